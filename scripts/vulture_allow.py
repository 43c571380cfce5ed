"""Names the unused-code check (vulture, `make lint`) must not report: used by reflection,
by the format, or kept as documented values. Each line is a name vulture sees as unused."""

# Parsed from the CI environment and the event payload: part of the typed context.
build_url
base_sha
head_repository
base_repository
event_name
server_url
# StrEnum members: reached through the enum's value (config, JSON), not by name.
BUILDX
BUILDKIT
SDK
STORE
# Units and media types / constants of the formats, defined once for readers of the code.
GiB
OCI_EMPTY
OCI_LAYER_ZSTD
OCI_LAYOUT_VERSION
DOCKER_CONFIG
OCTET_STREAM
UPSTREAM_BUILD_TOOL
Z_MEM_ERROR
# The startup measurement's kernel constants, StrEnum members and one helper kept for its API.
FAN_ACCESS
FAN_NOFD
IMAGE_BYTES
FETCH_BYTES
FETCH_REQUESTS
FETCH_PERCENT
STARTUP_FILES
STARTUP_FILE_BYTES
READ
failed_names
# verify's shared reads: a type alias, a test constant, the span cuts' indexing (used by [k]).
OnEntry
__getitem__
TAR
# the action image fixture keeps its build log for debugging a failed session.
build_log
