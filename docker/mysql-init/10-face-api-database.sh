# Sourced (not executed) by the mysql image's entrypoint on the first start of an empty data volume,
# after it created MYSQL_DATABASE/MYSQL_USER for MLflow: gives the face API its own database and user
# on the same server. docker_process_sql is the entrypoint's own function (it runs SQL as root).
# Kept non-executable on purpose: the entrypoint sources *.sh files that are not executable.

: "${FACE_API_DB_NAME:?FACE_API_DB_NAME must be set}"
: "${FACE_API_DB_USER:?FACE_API_DB_USER must be set}"
: "${FACE_API_DB_PASSWORD:?FACE_API_DB_PASSWORD must be set}"

docker_process_sql --database=mysql <<-EOSQL
	CREATE DATABASE IF NOT EXISTS \`${FACE_API_DB_NAME}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
	CREATE USER IF NOT EXISTS '${FACE_API_DB_USER}'@'%' IDENTIFIED BY '${FACE_API_DB_PASSWORD}';
	GRANT ALL PRIVILEGES ON \`${FACE_API_DB_NAME}\`.* TO '${FACE_API_DB_USER}'@'%';
	FLUSH PRIVILEGES;
EOSQL
