-- The stand-in's own client_proxy component: what the prosody image defines at stable-11146-2
-- (prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua, Component "focus.XMPP_DOMAIN"
-- "client_proxy" with target_address = "focus@XMPP_AUTH_DOMAIN"), reduced to the part the web
-- client relies on: an IQ get/set sent to the component's address reaches a connected session of
-- target_address (from the component, with an id of its own), and the target's result or error
-- goes back to the sender, from the component, under the sender's id. With no session of the
-- target, the sender gets cancel/service-unavailable at once. Unanswered requests are forgotten
-- after PENDING_SECONDS. Messages and presence are not proxied.
-- luacheck: read globals module prosody

local st = require "prosody.util.stanza";
local jid = require "prosody.util.jid";
local new_id = require "prosody.util.id".medium;

local PENDING_SECONDS = 60;

local target = jid.prep(module:get_option_string("target_address", ""));
if not target or jid.node(target) == nil or jid.resource(target) ~= nil then
	module:log_status("error", "target_address must be a bare JID (user@host), not %q",
		module:get_option_string("target_address", ""));
	return;
end

-- forwarded id -> { id = the sender's id; from = the sender; to = the target's full JID; at }
local pending = {};

local function prune()
	local now = os.time();
	for id, request in pairs(pending) do
		if now - request.at > PENDING_SECONDS then
			pending[id] = nil;
		end
	end
end

-- A connected session of the target: one that sent presence if any did.
local function target_session()
	local account = prosody.bare_sessions[target];
	local chosen;
	for _, session in pairs(account and account.sessions or {}) do
		if session.presence then
			return session;
		end
		chosen = chosen or session;
	end
	return chosen;
end

local function forward(stanza)
	local sender = stanza.attr.from;
	if jid.bare(sender) == target then
		module:send(st.error_reply(stanza, "cancel", "service-unavailable"));
		return;
	end
	local session = target_session();
	if not session then
		module:send(st.error_reply(stanza, "cancel", "service-unavailable",
			target .. " is not connected"));
		return;
	end
	prune();
	local request = st.clone(stanza);
	request.attr.id = new_id();
	request.attr.from = module.host;
	request.attr.to = session.full_jid;
	pending[request.attr.id] = {
		id = stanza.attr.id; from = sender; to = session.full_jid; at = os.time();
	};
	module:log("debug", "%s -> %s as %s", sender, session.full_jid, request.attr.id);
	module:send(request);
end

local function answer(stanza)
	local request = pending[stanza.attr.id];
	if not request or stanza.attr.from ~= request.to then
		return; -- not ours: dropped, like any unexpected result or error
	end
	pending[stanza.attr.id] = nil;
	local reply = st.clone(stanza);
	reply.attr.id = request.id;
	reply.attr.from = module.host;
	reply.attr.to = request.from;
	module:send(reply);
end

module:hook("iq/host", function (event)
	local stanza = event.stanza;
	local kind = stanza.attr.type;
	if kind == "get" or kind == "set" then
		forward(stanza);
	elseif kind == "result" or kind == "error" then
		answer(stanza);
	end
	return true;
end, 1);

module:add_timer(PENDING_SECONDS, function ()
	prune();
	return PENDING_SECONDS;
end);
