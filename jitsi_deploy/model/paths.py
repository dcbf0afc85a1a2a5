"""Where things live on a deployed host: one table, so templates, steps and tests agree."""

STACK_DIR = "/opt/jitsi-meet"
CONFIG_DIR = f"{STACK_DIR}/config"
KUMA_DATA_DIR = f"{STACK_DIR}/uptime-kuma"
POSTGRES_DATA_DIR = f"{STACK_DIR}/postgres"
# Prosody's database as a backup holds it (pg_dump's custom format), and that dump once a
# restore put it back, until a deploy loads it into the new database.
DATABASE_DUMP = f"{STACK_DIR}/prosody-database.dump"
RESTORED_DUMP = f"{DATABASE_DUMP}.restored"
# Marks that Prosody's files were moved into PostgreSQL (steps/storage.py): never again.
STORAGE_MOVED = f"{STACK_DIR}/prosody-storage-moved"
COMPOSE_FILE = f"{STACK_DIR}/docker-compose.yml"
COMPOSE_ENV = f"{STACK_DIR}/.env"
COMPOSE_PROJECT = "jitsi"

PROSODY_PLUGINS_DIR = f"{CONFIG_DIR}/prosody/prosody-plugins-custom"
PROSODY_CONF_D = f"{CONFIG_DIR}/prosody/config/conf.d"
# The image copies these into its runtime config and makes a certificate only for a name
# without one here (prosody/rootfs/etc/s6-overlay/scripts/config at stable-11146-2).
PROSODY_CERTS_DIR = f"{CONFIG_DIR}/prosody/config/certs"
JVB_CONFIG_DIR = f"{CONFIG_DIR}/jvb"

ETC_DIR = "/etc/jitsi-deploy"
FIREWALL_PLAN = f"{ETC_DIR}/firewall.rules"
# Who may reach the ports Docker publishes: a script in DOCKER-USER, run by a unit after Docker.
DOCKER_USER_SCRIPT = "/usr/local/sbin/jitsi-deploy-docker-user"
DOCKER_USER_UNIT = "/etc/systemd/system/jitsi-deploy-docker-user.service"
DOCKER_USER_CHAIN = "JITSI-DEPLOY"
# Uptime Kuma provisioning (deploy/monitoring.py): the digest of the monitors last provisioned
# (a deploy that wants the same skips Kuma), and the mark that its admin exists (until then
# nginx answers 503 for the status site, so nobody can claim a fresh Kuma from outside).
KUMA_WANTED_HASH = f"{ETC_DIR}/kuma-wanted.sha256"
KUMA_READY = f"{ETC_DIR}/kuma-ready"
DOCKER_DAEMON_SETTINGS = f"{ETC_DIR}/docker-daemon.json"
DOCKER_DAEMON_JSON = "/etc/docker/daemon.json"

# conf.d is read inside the http block by the nginx packages of Debian, Ubuntu and RHEL alike.
NGINX_SITE = "/etc/nginx/conf.d/jitsi-meet.conf"
# nginx reads the certificates through links here, <name>/{fullchain,privkey}.pem.
TLS_ROOT = f"{ETC_DIR}/tls"
ACME_WEBROOT = "/var/www/jitsi-deploy-acme"
# Where the deploy notes the reloads and restarts it owes the host (see steps/handlers.py).
PENDING_REACTIONS = "/var/lib/jitsi-deploy/pending-reactions"
# The content each file write replaced, by its path below this root-only tree (see
# steps/changes.py): nginx's site is put back from here when `nginx -t` refuses the new one.
PREVIOUS_FILES_DIR = "/var/lib/jitsi-deploy/previous"

# TURN (model/turn.py): coturn's settings (its secret readable by coturn's group alone), the
# drop-in that points Debian's unit at them, and nginx's TLS split by name on 443. Files in
# modules-enabled are read at nginx's top level, after the stream module loads (50-mod-stream):
# Debian's nginx.conf has no other place for a stream block.
TURN_CONFIG = f"{ETC_DIR}/turnserver.conf"
COTURN_DROPIN = "/etc/systemd/system/coturn.service.d/60-jitsi-deploy.conf"
NGINX_STREAM = "/etc/nginx/modules-enabled/60-jitsi-deploy-stream.conf"

FAIL2BAN_JAILS = "/etc/fail2ban/jail.d/jitsi-deploy.local"
SYSCTL_FILE = "/etc/sysctl.d/60-jitsi-deploy.conf"
LIMITS_FILE = "/etc/security/limits.d/60-jitsi-deploy.conf"
DOCKER_LIMITS_DROPIN = "/etc/systemd/system/docker.service.d/60-jitsi-deploy.conf"

HEALTH_SCRIPT = "/usr/local/sbin/jitsi-health"
HEALTH_CONFIG = f"{ETC_DIR}/health.conf"
HEALTH_STATE_DIR = "/var/lib/jitsi-health"
# Held by the health check, the deploy's compose commands, Kuma's marks and backups alike.
HEALTH_LOCK = f"{HEALTH_STATE_DIR}/lock"
# Made by the deploy once the stack is up: until then the health check's runs do nothing.
HEALTH_ARMED = f"{HEALTH_STATE_DIR}/armed"
# Made by `fab drain` (operations/drain.py): the bridge is stopped on purpose; the health check
# leaves it alone and the next deploy starts it again.
BRIDGE_DRAINED = f"{HEALTH_STATE_DIR}/drained"
HEALTH_LOG = "/var/log/jitsi-health.log"
HEALTH_CRON = "/etc/cron.d/jitsi-health"
HEALTH_LOGROTATE = "/etc/logrotate.d/jitsi-health"

# The nightly backup on the host (model/backup_job.py): its script, the project's archive code
# it imports, its settings, its cron entry and log, and where the archives are kept.
HOST_BACKUP_SCRIPT = "/usr/local/sbin/jitsi-backup"
HOST_BACKUP_LIBRARY = "/usr/local/lib/jitsi-deploy"
HOST_BACKUP_CONFIG = f"{ETC_DIR}/backup.json"
HOST_BACKUP_CRON = "/etc/cron.d/jitsi-backup"
HOST_BACKUP_LOG = "/var/log/jitsi-backup.log"
HOST_BACKUP_DIR = "/var/backups/jitsi-deploy"

# The Jitsi containers run as this user and abort when their mounted folders are not theirs.
CONTAINER_UID = 1000
