-- Room access policy for the Jitsi Meet MUC component.
--
-- Fixed public rooms never carry a password and cannot be made members-only (the lobby); rooms
-- named with the private prefix (and rooms with a password of their own) always carry the
-- server's password; every other room is allowed, denied or given the default password.
-- Moderators cannot change a password the server manages. Jitsi's service accounts (focus
-- creates the conference room) join without knowing it.
--
-- Room names. A room's node is "name" or "[tenant]name" (Jitsi's tenant rooms). Only canonical
-- names are served: after ONE "[tenant]" prefix, the name (and the tenant) may only hold ASCII
-- letters, digits, '-', '_' and '.'. Any other room is refused at creation and at every join
-- (cancel/not-allowed): look-alike letters (Cyrillic U+0430), Unicode dashes, nested tenants
-- ("[a][b]name"), percent-encoded and XEP-0106-escaped ("\20") names would otherwise be rooms the
-- rules do not recognise. Prosody has already applied nodeprep (lowercase, NFKC) to the node. The
-- public list, the private prefix and the per-room passwords match the name without its tenant,
-- case-insensitively. Jicofo's health-check rooms ("__jicofo-health-check-<n>", no tenant) are
-- canonical; only the service accounts may join them, whatever room_policy_other_rooms says.
--
-- Fail closed. When the settings are unusable the module still loads, refuses every room
-- creation, join and owner configuration (it cannot know which rooms it would have protected),
-- and logs the reason once, at level error. The state is reported over Prosody's HTTP server, to
-- loopback clients only (any other client, proxied ones included, gets 403), whatever the Host:
--   GET http://127.0.0.1:5280/room-policy-health
--     200 "ok"                  the policy is in force
--     503 "broken: <reason>"    the settings were refused (every room is closed), or a MUC
--                               component of the policy (main or breakout) does not load it
--     404                       the module is not loaded at all (also a failure)
-- e.g. `curl -fsS http://127.0.0.1:5280/room-policy-health` inside the prosody container. The
-- module status is also set to "error", which the Jitsi image's /health (mod_http_health)
-- reports as 500.
--
-- The options are read with module:get_option, which falls back to the global section: the
-- Jitsi image includes conf.d/*.cfg.lua files in the global section, not in the component.
--
-- Breakout rooms. Jitsi's breakout rooms live on their own MUC component
-- (room_policy_breakout_muc, the image's "breakout.<XMPP_DOMAIN>") under a random UUID name, so
-- the module is loaded there too (XMPP_BREAKOUT_MUC_MODULES) and a breakout room takes the rule of
-- its main room: a private room's breakout rooms need the private room's password, a public
-- room's are open, and a room whose moderators set a password lends it to its breakout rooms.
-- The link is the one Jitsi's mod_muc_breakout_rooms keeps on the server: it records each
-- breakout room it makes in its main room (main_room._data.breakout_rooms[breakout room JID]),
-- which no client can write. A breakout room that no main room on room_policy_main_muc lists is
-- refused (cancel/not-allowed), as is every room on any other component the module is loaded on.
--
-- Password guessing. A session that sent room_policy_password_tries (5) wrong passwords in a
-- row, to any rooms with a password (managed, or set by their moderators), waits
-- room_policy_password_wait (60) seconds before its next try: a try in that time, right or
-- wrong, is refused (wait/policy-violation, with the seconds left in the text), and each wrong
-- try after that starts the wait again, until a right one. Each wrong and each refused try
-- is logged in one line, at level warn, without the password, e.g.
--   room policy: wrong password: address=203.0.113.9 jid=... room=... count=3
--   room policy: password throttled: address=203.0.113.9 jid=... room=... wait=42
-- for a fail2ban filter such as "room policy: (wrong password|password throttled): address=<HOST> ".
-- The address is the session's as Prosody knows it: behind a proxy that Prosody does not trust
-- (trusted_proxies) it is the proxy's.
--
-- Works on Prosody 0.12 and 13; it makes no admin checks, so no is_admin / roles API split.

-- luacheck: read globals module

local jid = require "util.jid";
local st = require "util.stanza";
local cache = require "util.cache";
local http_server = require "net.http.server";
local now = require "util.time".now;

local MUC_NS = "http://jabber.org/protocol/muc";
local DATA_FORMS_NS = "jabber:x:data";
local HEALTH_PATH = "/room-policy-health";
local OTHER_ROOM_MODES = { allow = true, deny = true, password = true };
-- Jicofo's health check creates "__jicofo-health-check-<random number>" on this component.
local HEALTH_CHECK_ROOM_PREFIX = "__jicofo-health-check";
local NAME_PATTERN = "^[a-z0-9._-]+$";
local PREFIX_PATTERN = "^[a-z0-9._-]*$";

local REFUSALS = {
	closed = "Rooms are closed: the server's room policy settings are broken",
	["bad-name"] = "Room names may only use the letters a-z, digits, '-', '_' and '.'",
	deny = "This room does not exist on this server",
	service = "This room is reserved for the server's services",
	orphan = "This breakout room belongs to no meeting on this server",
};

-- The name the rules apply to (the node without one "[tenant]" prefix) and the tenant, or nil
-- when the node is not canonical.
local function canonical_name(node)
	node = node:lower();
	local tenant, name = node:match("^%[([^%]]*)%](.*)$");
	if tenant and not tenant:match(NAME_PATTERN) then
		return nil;
	end
	name = name or node;
	if not name:match(NAME_PATTERN) then
		return nil;
	end
	return name, tenant;
end

-- Settings ---------------------------------------------------------------------------------------

local function config_error(message)
	error(message, 0);
end

local function string_option(name, default)
	local value = module:get_option(name, default);
	if type(value) ~= "string" then
		config_error(name .. " must be a string");
	end
	return value;
end

local function string_list(name, default)
	local value = module:get_option(name, default);
	if type(value) == "string" then
		value = { value };
	end
	if type(value) ~= "table" then
		config_error(name .. " must be a list of strings");
	end
	local items = {};
	for key, item in pairs(value) do
		if type(key) ~= "number" or type(item) ~= "string" then
			config_error(name .. " must be a list of strings");
		end
		items[#items + 1] = item:lower();
	end
	return items;
end

local function room_name_set(name)
	local names, count = {}, 0;
	for _, room in ipairs(string_list(name, {})) do
		if not room:match(NAME_PATTERN) then
			config_error(name .. ": '" .. room .. "' is not a room name of ASCII letters, digits, '-', '_', '.'");
		end
		if not names[room] then
			names[room], count = true, count + 1;
		end
	end
	return names, count;
end

local function count_option(name, default)
	local value = module:get_option(name, default);
	if type(value) ~= "number" or value < 1 or value % 1 ~= 0 then
		config_error(name .. " must be a whole number of at least 1");
	end
	return value;
end

local function room_passwords_option()
	local option = "room_policy_room_passwords";
	local value = module:get_option(option, {});
	if type(value) ~= "table" then
		config_error(option .. " must be a table of passwords by room name");
	end
	local passwords = {};
	for name, password in pairs(value) do
		if type(name) ~= "string" or type(password) ~= "string" or password == "" then
			config_error(option .. " needs non-empty string passwords by room name");
		end
		name = name:lower();
		if not name:match(NAME_PATTERN) then
			config_error(option .. ": '" .. name .. "' is not a room name of ASCII letters, digits, '-', '_', '.'");
		end
		passwords[name] = password;
	end
	return passwords;
end

local function read_policy()
	local policy = {};
	policy.public_rooms, policy.public_count = room_name_set("room_policy_public_rooms");
	policy.private_prefix = string_option("room_policy_private_prefix", "private-"):lower();
	policy.default_password = string_option("room_policy_default_password", "");
	policy.room_passwords = room_passwords_option();
	policy.other_rooms = string_option("room_policy_other_rooms", "allow");
	policy.main_muc = string_option("room_policy_main_muc", "muc.meet.jitsi"):lower();
	policy.breakout_muc = string_option("room_policy_breakout_muc", "breakout.meet.jitsi"):lower();
	policy.password_tries = count_option("room_policy_password_tries", 5);
	policy.password_wait = count_option("room_policy_password_wait", 60);
	policy.whitelist = {};
	for _, address in ipairs(string_list("room_policy_whitelist", { "focus@auth.meet.jitsi" })) do
		policy.whitelist[address] = true;
	end

	if module.host == policy.main_muc then
		policy.role = "main";
	elseif module.host == policy.breakout_muc then
		policy.role = "breakout";
	else
		config_error("loaded on " .. module.host .. ", which is neither room_policy_main_muc ("
			.. policy.main_muc .. ") nor room_policy_breakout_muc (" .. policy.breakout_muc .. ")");
	end
	local prefix = policy.private_prefix;
	if not OTHER_ROOM_MODES[policy.other_rooms] then
		config_error("room_policy_other_rooms must be \"allow\", \"deny\" or \"password\"");
	end
	if not prefix:match(PREFIX_PATTERN) then
		config_error("room_policy_private_prefix '" .. prefix .. "' may only hold ASCII letters, digits, '-', '_', '.'");
	end
	-- Without a password the protected rooms would be open to anyone.
	if policy.default_password == "" and prefix ~= "" then
		config_error("private rooms ('" .. prefix .. "*') need a password: "
			.. "set room_policy_default_password (or an empty room_policy_private_prefix)");
	end
	if policy.default_password == "" and policy.other_rooms == "password" then
		config_error("room_policy_other_rooms = \"password\" needs room_policy_default_password");
	end
	for name in pairs(policy.public_rooms) do
		if prefix ~= "" and name:sub(1, #prefix) == prefix then
			config_error("room '" .. name .. "' is public and starts with the private prefix '" .. prefix .. "'");
		end
		if policy.room_passwords[name] then
			config_error("room '" .. name .. "' is public and has a password in room_policy_room_passwords");
		end
	end
	return policy;
end

-- Any error while reading the settings, not only the checks above, closes every room.
local settings_ok, settings = pcall(read_policy);
local policy = settings_ok and settings or nil;
local broken = not settings_ok and tostring(settings) or nil;

if broken then
	-- The reason names options and rooms, never a password.
	module:log("error", "room policy: settings refused, every room is closed until they are fixed: %s", broken);
	if module.set_status then
		module:set_status("error", "room policy settings refused: " .. broken);
	end
else
	-- Operators see the policy in force at start; passwords are never logged.
	module:log("info", "room policy: %d public rooms, private prefix '%s', other rooms: %s (%s rooms)",
		policy.public_count, policy.private_prefix, policy.other_rooms, policy.role);
end

-- What the health route reports for every component that loads the module: false when in force,
-- else the reason. Shared by the instances of all hosts.
local instances = module:shared("/*/room_policy/instances");
instances[module.host] = broken or false;
function module.unload() -- luacheck: ignore 122 (Prosody's unload callback)
	instances[module.host] = nil;
end

-- Rules ------------------------------------------------------------------------------------------

-- The rule for a room of the main MUC and, for "password", the password the room must carry:
-- "bad-name", "service" (service accounts only), "public", "password", "allow" or "deny".
local function main_rule(room_jid)
	local node = jid.node(room_jid);
	if not node then
		return "allow";
	end
	local name, tenant = canonical_name(node);
	if not name then
		return "bad-name";
	end
	if not tenant and name:sub(1, #HEALTH_CHECK_ROOM_PREFIX) == HEALTH_CHECK_ROOM_PREFIX then
		return "service";
	end
	if policy.public_rooms[name] then
		return "public";
	end
	local own_password = policy.room_passwords[name];
	if own_password then
		return "password", own_password;
	end
	local prefix = policy.private_prefix;
	if prefix ~= "" and name:sub(1, #prefix) == prefix then
		return "password", policy.default_password;
	end
	if policy.other_rooms == "password" then
		return "password", policy.default_password;
	end
	return policy.other_rooms;
end

-- Breakout rooms ---------------------------------------------------------------------------------

-- Breakout room JID -> main room JID, checked against the main room at every use.
local main_room_jids = cache.new(10000);

local function lists(main_room, breakout_jid)
	local breakout_rooms = main_room and main_room._data.breakout_rooms;
	return type(breakout_rooms) == "table" and breakout_rooms[breakout_jid] ~= nil;
end

-- The live main room that lists this breakout room, or nil.
local function main_room_of(breakout_jid)
	local main_host = prosody.hosts[policy.main_muc];
	local muc = main_host and main_host.modules.muc;
	if not muc then
		return nil;
	end
	local known = main_room_jids:get(breakout_jid);
	local main_room = known and muc.get_room_from_jid(known);
	if lists(main_room, breakout_jid) then
		return main_room;
	end
	for room in muc.live_rooms() do
		if lists(room, breakout_jid) then
			main_room_jids:set(breakout_jid, room.jid);
			return room;
		end
	end
	return nil;
end

-- A breakout room is as closed as its main room: its rule, or the password its moderators set.
local function breakout_rule(room_jid)
	local main_room = main_room_of(room_jid);
	if not main_room then
		return "orphan";
	end
	local rule, password = main_rule(main_room.jid);
	if rule == "allow" and main_room:get_password() then
		return "password", main_room:get_password();
	end
	return rule, password;
end

-- The rule for a room of this component: the above, "orphan" (a breakout room that no main room
-- lists) or "closed" (broken settings).
local function rule_for(room_jid)
	if broken then
		return "closed";
	end
	if policy.role == "breakout" then
		return breakout_rule(room_jid);
	end
	return main_rule(room_jid);
end

local function is_whitelisted(full_jid)
	local bare = jid.bare(full_jid):lower();
	return policy.whitelist[bare] or policy.whitelist[jid.host(bare) or ""] or false;
end

-- The text of the refusal for a room creation or join, or nil when the rule lets it through.
local function join_refusal(rule, from)
	if rule == "service" then
		return not is_whitelisted(from) and REFUSALS.service or nil;
	end
	return REFUSALS[rule];
end

local function refuse_join(event, text)
	local level = broken and "debug" or "info";
	module:log(level, "%s refused: %s (%s)", event.stanza.attr.from, event.room.jid, text);
	event.origin.send(st.error_reply(event.stanza, "cancel", "not-allowed", text, event.room.jid));
	return true;
end

-- Puts the room's password where the rule wants it: nil for public rooms, the managed one for
-- protected rooms. Rooms under "allow" keep whatever their moderators chose. A public room that
-- something made members-only (a server default, a module) is opened again.
local function enforce(room, rule, password)
	if rule == "public" then
		room:set_password(nil);
		if room:get_members_only() then
			module:log("warn", "%s is public: members-only switched off", room.jid);
			room:set_members_only(false);
		end
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

-- Priority 10: refuse before mod_muc starts tracking a room that must not exist.
module:hook("muc-room-pre-create", function(event)
	local text = join_refusal(rule_for(event.room.jid), event.stanza.attr.from);
	if text then
		return refuse_join(event, text);
	end
end, 10);

-- Priority 20: before Prosody's members-only (-5), ban (-10) and password (-20) checks and
-- Jitsi's lobby (-4), so a refused room is refused whatever else would apply.
module:hook("muc-occupant-pre-join", function(event)
	local room = event.room;
	local rule, password = rule_for(room.jid);
	local text = join_refusal(rule, event.stanza.attr.from);
	if text then
		return refuse_join(event, text);
	end
	-- Every join, the creator's included: this replaces a password the creator's presence put
	-- into a new room (at muc-room-pre-create) and fixes rooms older than this module.
	enforce(room, rule, password);
end, 20);

-- Password guessing ------------------------------------------------------------------------------

-- The state lives in the client's session (shared by every component, gone with the session):
-- wrong passwords in a row, and until when the session must wait.

local function seconds_to_wait(session)
	local wait_until = session.room_policy_wait_until;
	local left = wait_until and wait_until - now();
	return left and left > 0 and math.ceil(left) or nil;
end

local function log_try(what, session, stanza, room, detail)
	module:log("warn", "room policy: %s: address=%s jid=%s room=%s %s",
		what, session.ip or "unknown", stanza.attr.from, room.jid, detail);
end

local function count_wrong_password(session, stanza, room)
	local count = (session.room_policy_wrong_passwords or 0) + 1;
	session.room_policy_wrong_passwords = count;
	if count >= policy.password_tries then
		session.room_policy_wait_until = now() + policy.password_wait;
	end
	log_try("wrong password", session, stanza, room, "count=" .. count);
end

local function refuse_throttled(session, stanza, room, wait)
	log_try("password throttled", session, stanza, room, "wait=" .. wait);
	local text = ("Too many wrong passwords: try again in %d seconds"):format(wait);
	session.send(st.error_reply(stanza, "wait", "policy-violation", text, room.jid));
	return true;
end

-- The password a join must carry: the one the server manages, or the one the moderators of a
-- room under "allow" put on it; nil when none is needed.
local function required_password(room, rule, password)
	if rule == "password" then
		return password;
	end
	if rule == "allow" then
		return room:get_password();
	end
	return nil;
end

-- Priority -15: after the ban check (-10), before Prosody's password check (-20), which passes
-- the joins let through here.
module:hook("muc-occupant-pre-join", function(event)
	local room, stanza, session = event.room, event.stanza, event.origin;
	local password = required_password(room, rule_for(room.jid));
	if not password then
		return;
	end
	if is_whitelisted(stanza.attr.from) then
		give_password(stanza, password);
		return;
	end
	local given = presence_password(stanza);
	-- A session that must wait gets no answer to its guess, right or wrong.
	local wait = given and seconds_to_wait(session);
	if wait then
		return refuse_throttled(session, stanza, room, wait);
	end
	if given == password then
		session.room_policy_wrong_passwords = nil;
		return;
	end
	if given then
		count_wrong_password(session, stanza, room);
	else
		module:log("info", "%s refused: no password for %s", stanza.attr.from, room.jid);
	end
	session.send(st.error_reply(stanza, "auth", "not-authorized", nil, room.jid));
	return true;
end, -15);

-- Owner configuration ----------------------------------------------------------------------------

-- The first value of each field of a submitted configuration form, or nil for other requests.
local function submitted_fields(stanza)
	local form = stanza.tags[1]:get_child("x", DATA_FORMS_NS);
	if not form or form.attr.type ~= "submit" then
		return nil;
	end
	local fields = {};
	for field in form:childtags("field") do
		if field.attr.var and fields[field.attr.var] == nil then
			fields[field.attr.var] = field:get_child_text("value") or "";
		end
	end
	return fields;
end

local function config_refusal(rule, password, fields)
	if rule == "closed" or rule == "bad-name" or rule == "orphan" then
		return REFUSALS[rule];
	end
	if not fields or (rule ~= "public" and rule ~= "password") then
		return nil;
	end
	local secret = fields["muc#roomconfig_roomsecret"];
	if secret == "" then
		secret = nil;
	end
	if fields["muc#roomconfig_roomsecret"] ~= nil and secret ~= password then
		return rule == "public" and "This room is public and cannot have a password"
			or "The password of this room is managed by the server";
	end
	-- Jitsi's lobby switch submits muc#roomconfig_membersonly; its lobby module attaches the lobby
	-- room only once Prosody accepted that form. Refused here, no lobby room is made and the room
	-- stays open; the client's switch follows the members-only state the room reports.
	local members_only = fields["muc#roomconfig_membersonly"];
	if rule == "public" and (members_only == "1" or members_only == "true") then
		return "This room is public and cannot be made members-only";
	end
	return nil;
end

-- Refused with an error instead of ignored: a silently kept password would make the web
-- client show the room as unlocked while it is not.
module:hook("iq-set/bare/http://jabber.org/protocol/muc#owner:query", function(event)
	local stanza = event.stanza;
	local rule, password = rule_for(stanza.attr.to);
	local text = config_refusal(rule, password, submitted_fields(stanza));
	if not text then
		return;
	end
	module:log("info", "%s refused: configuration of %s (%s)", stanza.attr.from, stanza.attr.to, text);
	event.origin.send(st.error_reply(stanza, "cancel", "not-allowed", text));
	return true;
end, 10);

-- Health signal ----------------------------------------------------------------------------------

local function is_loopback(ip)
	return ip ~= nil and (ip == "::1" or ip:match("^127%.") ~= nil or ip:match("^::ffff:127%.") ~= nil);
end

-- The reasons of every instance that refused its settings, else the first component of the
-- policy that exists without it (a breakout component without it would let anyone in).
local function policy_problem()
	local reasons, seen = {}, {};
	for _, reason in pairs(instances) do
		if reason and not seen[reason] then
			reasons[#reasons + 1], seen[reason] = reason, true;
		end
	end
	if #reasons > 0 then
		table.sort(reasons);
		return table.concat(reasons, "; ");
	end
	for _, host in ipairs({ policy.main_muc, policy.breakout_muc }) do
		if prosody.hosts[host] and instances[host] == nil then
			return "the MUC component " .. host .. " does not load room_policy";
		end
	end
	if not prosody.hosts[policy.main_muc] then
		return "there is no MUC component " .. policy.main_muc .. " (room_policy_main_muc)";
	end
	return nil;
end

-- A global route of Prosody's HTTP server (the way mod_http registers routes), so it answers
-- whatever Host the request names. request.ip is the client behind trusted proxies.
local function health(event)
	local request, response = event.request, event.response;
	if not is_loopback(request.ip) then
		return 403;
	end
	response.headers.content_type = "text/plain; charset=utf-8";
	response.headers.cache_control = "no-store";
	local problem = policy_problem();
	if problem then
		response.status_code = 503;
		return "broken: " .. problem .. "\n";
	end
	return "ok\n";
end

-- Last, and guarded: without an HTTP server the policy must still be in force.
local http_loaded, http_error = pcall(module.depends, module, "http");
if http_loaded then
	module:hook_object_event(http_server, "GET " .. HEALTH_PATH, health);
else
	module:log("error", "room policy: no HTTP server, %s is not served: %s", HEALTH_PATH, tostring(http_error));
end
