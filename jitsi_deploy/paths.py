"""Where things live on a deployed host: one table, so templates, steps and tests agree."""

STACK_DIR = "/opt/jitsi-meet"
CONFIG_DIR = f"{STACK_DIR}/config"
KUMA_DATA_DIR = f"{STACK_DIR}/uptime-kuma"
COMPOSE_FILE = f"{STACK_DIR}/docker-compose.yml"
COMPOSE_ENV = f"{STACK_DIR}/.env"
COMPOSE_PROJECT = "jitsi"

PROSODY_PLUGINS_DIR = f"{CONFIG_DIR}/prosody/prosody-plugins-custom"
PROSODY_CONF_D = f"{CONFIG_DIR}/prosody/config/conf.d"

ETC_DIR = "/etc/jitsi-deploy"
FIREWALL_PLAN = f"{ETC_DIR}/firewall.rules"
MONITORS = f"{ETC_DIR}/monitors.json"
DOCKER_DAEMON_SETTINGS = f"{ETC_DIR}/docker-daemon.json"
DOCKER_DAEMON_JSON = "/etc/docker/daemon.json"

FAIL2BAN_JAILS = "/etc/fail2ban/jail.d/jitsi-deploy.local"
SYSCTL_FILE = "/etc/sysctl.d/60-jitsi-deploy.conf"
LIMITS_FILE = "/etc/security/limits.d/60-jitsi-deploy.conf"
DOCKER_LIMITS_DROPIN = "/etc/systemd/system/docker.service.d/60-jitsi-deploy.conf"

# The health check's own paths (script, config, state, log) are HealthSettings defaults.
HEALTH_CRON = "/etc/cron.d/jitsi-health"
HEALTH_LOGROTATE = "/etc/logrotate.d/jitsi-health"

# The Jitsi containers run as this user and abort when their mounted folders are not theirs.
CONTAINER_UID = 1000
