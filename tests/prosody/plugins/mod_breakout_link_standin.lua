-- Test stand-in for the one part of Jitsi's mod_muc_breakout_rooms that the room policy relies
-- on: the server-side link from a main room to its breakout rooms. Jitsi's module (package
-- jitsi-meet-prosody) cannot be installed on the test machines, so this module plays that part
-- and nothing else: asked by a moderator of a main room, it names a breakout room
-- "<uuid>@<breakout component>" and records it in the main room's _data.breakout_rooms, keyed by
-- the breakout room's JID, as Jitsi's module does. It does not refuse unknown breakout rooms
-- (Jitsi's module does), so the tests show that the room policy refuses them on its own.
--
-- Loaded on the main MUC component. The request, an IQ set to the main room:
--   <create xmlns="urn:jitsi-deploy:test:breakout" subject="..."/>
-- answered with <created xmlns="urn:jitsi-deploy:test:breakout" jid="<breakout room JID>"/>.

-- luacheck: read globals module

local st = require "util.stanza";
local uuid = require "util.uuid";

local NS = "urn:jitsi-deploy:test:breakout";
local breakout_muc = module:get_option_string("breakout_rooms_muc", "breakout.meet.jitsi");

module:hook("iq-set/bare/" .. NS .. ":create", function(event)
	local stanza = event.stanza;
	local muc = prosody.hosts[module.host].modules.muc;
	local room = muc.get_room_from_jid(stanza.attr.to);
	local occupant = room and room:get_occupant_by_real_jid(stanza.attr.from);
	if not occupant or occupant.role ~= "moderator" then
		event.origin.send(st.error_reply(stanza, "auth", "forbidden"));
		return true;
	end
	local breakout_jid = uuid.generate() .. "@" .. breakout_muc;
	room._data.breakout_rooms = room._data.breakout_rooms or {};
	room._data.breakout_rooms[breakout_jid] = stanza.tags[1].attr.subject or "Breakout room";
	event.origin.send(st.reply(stanza):tag("created", { xmlns = NS, jid = breakout_jid }));
	return true;
end, 10);
