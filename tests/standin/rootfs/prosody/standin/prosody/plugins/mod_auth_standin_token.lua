-- The stand-in's token authentication (AUTH_TYPE=jwt), written for the project after the
-- behaviour of Jitsi's token plugin (jitsi-meet resources/prosody-plugins: mod_auth_token with
-- token/util.lib.lua, and mod_jitsi_session), which the Debian Prosody here does not have.
--
-- The page opens BOSH or the websocket with ?token=JWT and logs in with SASL ANONYMOUS. The
-- login succeeds only with a token signed HS256 with app_secret, `iss` among
-- asap_accepted_issuers and `aud` among asap_accepted_audiences ("*": any; app_id when unset),
-- not expired and already valid (exp, nbf), and with a `room` claim; without a token only when
-- allow_empty_token. A refused login gets SASL's not-authorized with the reason, as Jitsi's does.
-- The session keeps the room claim for mod_standin_token_room on the conference MUC.

local new_sasl = require "prosody.util.sasl".new;
local base64 = require "prosody.util.encodings".base64;
local hashes = require "prosody.util.hashes";
local json = require "prosody.util.json";
local formdecode = require "prosody.util.http".formdecode;

local app_id = module:get_option_string("app_id", "");
local app_secret = module:get_option_string("app_secret", "");
local allow_empty = module:get_option_boolean("allow_empty_token", false);
-- Unset, Jitsi's plugin takes its app id as issuer; its audience default was "*" and is no
-- longer: the app id for both is the strictest reading.
local issuers = module:get_option_set("asap_accepted_issuers", { app_id });
local audiences = module:get_option_set("asap_accepted_audiences", { app_id });

local function base64url_decode(text)
	local padded = text:gsub("-", "+"):gsub("_", "/");
	return base64.decode(padded .. ("="):rep((4 - #padded % 4) % 4));
end

local function decoded_json(segment)
	local ok, value = pcall(json.decode, base64url_decode(segment) or "");
	return ok and type(value) == "table" and value or nil;
end

local function accepted(set, value)
	if set:contains("*") then return true; end
	if type(value) == "table" then
		for _, item in ipairs(value) do
			if set:contains(item) then return true; end
		end
		return false;
	end
	return value ~= nil and set:contains(value);
end

-- The token's claims, or nil and why it is refused.
local function verify(token)
	local header64, claims64, signature64 = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$");
	if not header64 then return nil, "not a signed JWT"; end
	local header = decoded_json(header64);
	if not header or header.alg ~= "HS256" then return nil, "'alg' must be HS256"; end
	local expected = hashes.hmac_sha256(app_secret, header64 .. "." .. claims64);
	if not hashes.equals(expected, base64url_decode(signature64) or "") then
		return nil, "signature verification failed";
	end
	local claims = decoded_json(claims64);
	if not claims then return nil, "unreadable claims"; end
	local now = os.time();
	if type(claims.exp) ~= "number" or claims.exp <= now then return nil, "token expired"; end
	if type(claims.nbf) == "number" and claims.nbf > now then return nil, "token not valid yet"; end
	if not accepted(issuers, claims.iss) then return nil, "invalid issuer ('iss' claim)"; end
	if not accepted(audiences, claims.aud) then return nil, "invalid audience ('aud' claim)"; end
	if type(claims.room) ~= "string" then return nil, "'room' claim is missing"; end
	return claims;
end

-- BOSH and the websocket hand over the token as a query parameter of their URL (both are
-- global modules: their events are global too).
local function keep_token(event)
	local query = event.request.url.query;
	local params = query and formdecode(query);
	event.session.auth_token = type(params) == "table" and params.token or nil;
end
module:hook_global("bosh-session", keep_token);
module:hook_global("websocket-session", keep_token);

module:hook("authentication-attempt", function(event)
	local session = event.origin;
	local token = session.auth_token;
	if token == nil and allow_empty then return; end
	local claims, reason = nil, "a token is required";
	if token ~= nil then claims, reason = verify(token); end
	if not claims then
		module:log("info", "refused a token login: %s", reason);
		event.allowed, event.error_condition, event.error_text = false, "not-authorized", reason;
		return;
	end
	session.jitsi_meet_room = claims.room;
end);

local provider = {};

function provider.test_password() return nil, "Password based auth not supported."; end
function provider.get_password() return nil, "Password not available."; end
function provider.set_password() return nil, "Password based auth not supported."; end
function provider.user_exists() return nil, "Only token logins are supported."; end
function provider.create_user() return nil, "Account creation/modification not supported."; end

function provider.get_sasl_handler()
	-- The token was checked before SASL started (authentication-attempt).
	return new_sasl(module.host, { anonymous = function() return true; end });
end

module:provides("auth", provider);
