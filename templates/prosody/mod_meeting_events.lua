-- Meeting events for the meeting history: the MUC component tells the stack's collector when a
-- meeting starts and ends and when its participant count changes, and, every
-- meeting_events_heartbeat seconds, which meetings are in progress.
--
-- What is sent. A meeting is one life of a room: from its creation to its destruction, with an
-- id of its own (a UUID), the room's node as its name, its start time, the participants in it
-- now and at most so far. Never a participant's name, address or nick, a message, a password or
-- any room setting. Service accounts (meeting_events_hidden_domains: focus and the bridges on
-- auth., recorders on hidden.: docker-jitsi-meet's XMPP_AUTH_DOMAIN and XMPP_HIDDEN_DOMAIN) are
-- no participants, and jicofo's health-check rooms no meetings (their prefix, jicofo's
-- ROOM_NAME_PREFIX, is what jitsi-meet's util.lib.lua is_healthcheck_room matches).
--
-- Each event carries the meeting's whole state, so the collector needs no earlier event to
-- record it: an "ended" event alone makes a row of the history, and the heartbeat ("live", the
-- list of meetings in progress) rebuilds the live state of a collector or Redis that restarted.
--   {"type": "started"|"joined"|"left"|"ended", "at": <unix seconds>, "meeting": {"id": ...,
--    "room": ..., "started": <unix seconds>, "participants": n, "peak": n}}
--   {"type": "live", "at": ..., "meetings": [<meeting>, ...]}
--
-- Delivery. Events queue in order and go to meeting_events_url as JSON batches, with
-- meeting_events_token as a bearer token (the collector takes events from nobody else)
-- ({"events": [...]}, at most BATCH each), one request at a time, so they arrive in order. A
-- batch the collector could not store (no answer, or 5xx) is sent again after a back-off of up
-- to a minute: a meeting that ends while the collector is down is recorded when it is back.
-- A batch it refuses (4xx) is dropped with an error in the log, since it would be refused again.
-- The queue keeps at most meeting_events_queue events; past that the oldest go (logged), so a
-- collector that stays down costs Prosody bounded memory. A Prosody restart loses the queue and
-- the meetings in progress, as it ends them for their participants.
--
-- Tested on Prosody 13, what the release's image runs; it uses no API that 0.12 lacks. Loaded
-- on the main MUC only: participants moving to breakout rooms leave the meeting's count while
-- they are there.

-- luacheck: read globals module

local array = require "util.array";
local http = require "net.http";
local jid = require "util.jid";
local json = require "util.json";
local now = require "util.time".now;
local uuid = require "util.uuid".generate;

local url = module:get_option_string("meeting_events_url");
local token = module:get_option_string("meeting_events_token");
local heartbeat = module:get_option_number("meeting_events_heartbeat", 30);
local queue_limit = module:get_option_number("meeting_events_queue", 10000);
local hidden_domains = module:get_option_set("meeting_events_hidden_domains", {});

local BATCH = 500;
local MAX_BACKOFF = 60;
local HEALTH_CHECK_ROOM = "^__jicofo%-health%-check";

local meetings = {}; -- room JID -> meeting
local queue = {};
local sending = false; -- a request is under way
local waiting = false; -- a failed one is to be sent again when the back-off ends
local failures = 0;

local function is_participant(occupant)
	local _, host = jid.split(occupant.bare_jid);
	return not hidden_domains:contains(host);
end

local function snapshot(meeting)
	return {
		id = meeting.id;
		room = meeting.room;
		started = meeting.started;
		participants = meeting.participants;
		peak = meeting.peak;
	};
end

local flush;

local function enqueue(event)
	event.at = now();
	queue[#queue + 1] = event;
	if #queue > queue_limit then
		local dropped = #queue - queue_limit;
		queue = array.slice(queue, dropped + 1);
		module:log("warn", "meeting events: collector unreachable, dropped the %d oldest events", dropped);
	end
	flush();
end

local function retry()
	failures = failures + 1;
	waiting = true;
	module:add_timer(math.min(2 ^ failures, MAX_BACKOFF), function ()
		waiting = false;
		flush();
	end);
end

function flush()
	if sending or waiting or #queue == 0 then return; end
	local batch = array.slice(queue, 1, BATCH);
	queue = array.slice(queue, #batch + 1);
	sending = true;
	local body = json.encode({ events = batch });
	local headers = { ["Content-Type"] = "application/json"; ["Authorization"] = "Bearer " .. token };
	local request = { method = "POST"; body = body; headers = headers };
	http.request(url, request, function (answer, code)
		sending = false;
		if code >= 200 and code < 300 then
			failures = 0;
		elseif code >= 400 and code < 500 then
			module:log("error", "meeting events: collector refused %d events: %d %s", #batch, code, answer);
		else
			if failures == 0 then
				module:log("warn", "meeting events: collector unreachable (%s %s), retrying", code, answer);
			end
			queue = batch:append(queue);
			retry();
			return;
		end
		flush();
	end);
end

local function send(kind, meeting)
	enqueue({ type = kind; meeting = snapshot(meeting) });
end

module:hook("muc-room-created", function (event)
	local room = event.room;
	local name = jid.node(room.jid);
	if name:match(HEALTH_CHECK_ROOM) then return; end
	local meeting = { id = uuid(); room = name; started = now(); participants = 0; peak = 0; present = {} };
	meetings[room.jid] = meeting;
	send("started", meeting);
end);

module:hook("muc-occupant-joined", function (event)
	local meeting = meetings[event.room.jid];
	local occupant = event.occupant;
	if not meeting or not is_participant(occupant) or meeting.present[occupant.nick] then return; end
	meeting.present[occupant.nick] = true;
	meeting.participants = meeting.participants + 1;
	meeting.peak = math.max(meeting.peak, meeting.participants);
	send("joined", meeting);
end);

module:hook("muc-occupant-left", function (event)
	local meeting = meetings[event.room.jid];
	local occupant = event.occupant;
	if not meeting or not meeting.present[occupant.nick] then return; end
	meeting.present[occupant.nick] = nil;
	meeting.participants = meeting.participants - 1;
	send("left", meeting);
end);

module:hook("muc-room-destroyed", function (event)
	local meeting = meetings[event.room.jid];
	if not meeting then return; end
	meetings[event.room.jid] = nil;
	send("ended", meeting);
end);

module:add_timer(heartbeat, function ()
	local live = array();
	for _, meeting in pairs(meetings) do
		live:push(snapshot(meeting));
	end
	enqueue({ type = "live"; meetings = live });
	return heartbeat;
end);

if not (url and token) then
	module:log("error", "meeting events: meeting_events_url or _token is not set; no event leaves this server");
	flush = function () queue = {}; end
end
