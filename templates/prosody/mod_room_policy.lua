-- Room access policy for the Jitsi Meet MUC component.
--
-- Fixed public rooms never carry a password; rooms named with the private prefix (and rooms with
-- a password of their own) always carry the server's password; every other room is allowed,
-- denied or given the default password. Moderators cannot change a password the server manages.
-- Jitsi's service accounts (focus creates the conference room) join without knowing it.
--
-- The options are read with module:get_option, which falls back to the global section: the
-- Jitsi image includes conf.d/*.cfg.lua files in the global section, not in the component.
--
-- Works on Prosody 0.12 and 13; it makes no admin checks, so no is_admin / roles API split.

-- luacheck: read globals module

local jid = require "util.jid";
local st = require "util.stanza";

local MUC_NS = "http://jabber.org/protocol/muc";
local OTHER_ROOM_MODES = { allow = true, deny = true, password = true };

local function config_error(message)
	error("mod_room_policy refuses to load: " .. message, 0);
end

-- Names are matched lowercased because Prosody lowercases room JIDs before they reach us.
local function lowercase_set(option_name, default)
	local names = {};
	for name in module:get_option_set(option_name, default) do
		names[name:lower()] = true;
	end
	return names;
end

local function room_passwords_option()
	local passwords = {};
	for name, password in pairs(module:get_option("room_policy_room_passwords", {})) do
		if type(name) ~= "string" or type(password) ~= "string" or password == "" then
			config_error("room_policy_room_passwords needs non-empty string passwords by room name");
		end
		passwords[name:lower()] = password;
	end
	return passwords;
end

local public_rooms = lowercase_set("room_policy_public_rooms", {});
local private_prefix = module:get_option_string("room_policy_private_prefix", "private-"):lower();
local default_password = module:get_option_string("room_policy_default_password", "");
local room_passwords = room_passwords_option();
local other_rooms = module:get_option_string("room_policy_other_rooms", "allow");
local whitelist = lowercase_set("room_policy_whitelist", { "focus@auth.meet.jitsi" });

if not OTHER_ROOM_MODES[other_rooms] then
	config_error("room_policy_other_rooms must be \"allow\", \"deny\" or \"password\"");
end
-- Fail closed: without a password the protected rooms would be open to anyone.
if default_password == "" and private_prefix ~= "" then
	config_error("private rooms ('" .. private_prefix .. "*') need a password: "
		.. "set room_policy_default_password (or an empty room_policy_private_prefix)");
end
if default_password == "" and other_rooms == "password" then
	config_error("room_policy_other_rooms = \"password\" needs room_policy_default_password");
end
for name in pairs(room_passwords) do
	if public_rooms[name] then
		config_error("room '" .. name .. "' is public and has a password in room_policy_room_passwords");
	end
end

-- Operators see the policy in force at start; passwords are never logged.
module:log("info", "room policy: %d public rooms, private prefix '%s', other rooms: %s",
	#module:get_option_array("room_policy_public_rooms", {}), private_prefix, other_rooms);

-- "[tenant]room" is the name Jitsi gives rooms of a tenant; the policy applies to the room part.
local function room_part(node)
	return node:match("^%[[^%]]*%](.+)$") or node;
end

-- Returns the rule for a room ("public", "password", "allow" or "deny") and, for "password",
-- the password the room must carry.
local function rule_for(room_jid)
	local node = jid.node(room_jid);
	if not node then
		return "allow";
	end
	node = node:lower();
	local name = room_part(node);
	if public_rooms[name] then
		return "public";
	end
	local own_password = room_passwords[node] or room_passwords[name];
	if own_password then
		return "password", own_password;
	end
	if private_prefix ~= "" and name:sub(1, #private_prefix) == private_prefix then
		return "password", default_password;
	end
	if other_rooms == "password" then
		return "password", default_password;
	end
	return other_rooms;
end

local function is_whitelisted(full_jid)
	local bare = jid.bare(full_jid);
	return whitelist[bare:lower()] or whitelist[(jid.host(bare) or ""):lower()] or false;
end

-- Puts the room's password where the rule wants it: nil for public rooms, the managed one for
-- protected rooms. Rooms under "allow" keep whatever their moderators chose.
local function enforce_password(room, rule, password)
	if rule == "public" then
		room:set_password(nil);
	elseif rule == "password" then
		room:set_password(password);
	end
end

local function presence_password(stanza)
	local muc_x = stanza:get_child("x", MUC_NS);
	local password = muc_x and muc_x:get_child_text("password", MUC_NS);
	if password == "" then
		return nil;
	end
	return password;
end

-- Prosody's own check (muc-occupant-pre-join, priority -20) compares the password in the
-- presence's muc <x> with the room's (it skips presences without one); a whitelisted service
-- account passes it by carrying the right one. Prosody strips this <x> from the presence it
-- stores and broadcasts, so the password goes no further.
local function give_password(stanza, password)
	local muc_x = stanza:get_child("x", MUC_NS);
	if muc_x then
		muc_x:remove_children("password", MUC_NS);
		muc_x:text_tag("password", password, { xmlns = MUC_NS });
	end
end

local function refuse_denied_room(event)
	module:log("info", "%s refused: room %s is not allowed by the room policy",
		event.stanza.attr.from, event.room.jid);
	event.origin.send(st.error_reply(event.stanza, "cancel", "not-allowed",
		"This room does not exist on this server", event.room.jid));
	return true;
end

-- Priority 10: refuse before mod_muc starts tracking a room that must not exist.
module:hook("muc-room-pre-create", function(event)
	if rule_for(event.room.jid) == "deny" then
		return refuse_denied_room(event);
	end
end, 10);

-- Priority -15: after the ban check (-10), before Prosody's password check (-20).
module:hook("muc-occupant-pre-join", function(event)
	local room, stanza = event.room, event.stanza;
	local rule, password = rule_for(room.jid);
	if rule == "deny" then
		return refuse_denied_room(event);
	end
	-- Every join, the creator's included: this replaces a password the creator's presence put
	-- into a new room (at muc-room-pre-create) and fixes rooms older than this module.
	enforce_password(room, rule, password);
	if rule ~= "password" then
		return;
	end
	if is_whitelisted(stanza.attr.from) then
		give_password(stanza, password);
		return;
	end
	if presence_password(stanza) ~= password then
		module:log("info", "%s refused: wrong or missing password for %s", stanza.attr.from, room.jid);
		event.origin.send(st.error_reply(stanza, "auth", "not-authorized", nil, room.jid));
		return true;
	end
end, -15);

local function submitted_room_secret(stanza)
	local form = stanza.tags[1]:get_child("x", "jabber:x:data");
	if not form or form.attr.type ~= "submit" then
		return false;
	end
	for field in form:childtags("field") do
		if field.attr.var == "muc#roomconfig_roomsecret" then
			local value = field:get_child_text("value");
			return true, value ~= "" and value or nil;
		end
	end
	return false;
end

-- Refused with an error instead of ignored: a silently kept password would make the web
-- client show the room as unlocked while it is not.
module:hook("iq-set/bare/http://jabber.org/protocol/muc#owner:query", function(event)
	local stanza = event.stanza;
	local rule, password = rule_for(stanza.attr.to);
	if rule ~= "public" and rule ~= "password" then
		return;
	end
	local present, secret = submitted_room_secret(stanza);
	if not present or secret == password then
		return;
	end
	module:log("info", "%s refused: password change of %s", stanza.attr.from, stanza.attr.to);
	local text = rule == "public" and "This room is public and cannot have a password"
		or "The password of this room is managed by the server";
	event.origin.send(st.error_reply(stanza, "cancel", "not-allowed", text));
	return true;
end, 10);
