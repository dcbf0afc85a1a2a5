-- The room claim of a token login (AUTH_TYPE=jwt), on the conference MUC: a participant whose
-- token names a room joins that room only ("*": any room), as Jitsi's token_verification
-- module has it. Sessions without a claim (jicofo's focus, or allow_empty_token) are not held.
-- Written for the project's Prosody stand-in; see mod_auth_standin_token.

local jid_split = require "prosody.util.jid".split;
local st = require "prosody.util.stanza";

module:hook("muc-occupant-pre-join", function(event)
	local claim = event.origin and event.origin.jitsi_meet_room;
	if claim == nil or claim == "*" then return; end
	local room = jid_split(event.room.jid);
	if room == claim:lower() then return; end
	module:log("info", "refused %s in %s: its token is for room %q", event.stanza.attr.from,
		event.room.jid, claim);
	event.origin.send(st.error_reply(event.stanza, "cancel", "not-allowed",
		"the token is for another room"));
	return true;
end, 99);
