namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// The schema, as an append-only list of migrations; PRAGMA user_version holds the last one applied.
/// Times are Unix milliseconds (INTEGER) so that range queries use the indexes; sizes are bytes.
/// </summary>
internal static class Migrations
{
    public static IReadOnlyList<string> All { get; } =
    [
        """
        CREATE TABLE model_files (
            path            TEXT PRIMARY KEY,
            format          TEXT NOT NULL CHECK (format IN ('gguf', 'safetensors')),
            size_bytes      INTEGER NOT NULL CHECK (size_bytes >= 0),
            mtime_ms        INTEGER NOT NULL,
            architecture    TEXT,
            parameter_count INTEGER,
            quantization    TEXT,
            layer_count     INTEGER,
            context_length  INTEGER,
            profile_json    TEXT,
            error           TEXT,
            scanned_at_ms   INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE instances (
            id              TEXT PRIMARY KEY,
            model           TEXT NOT NULL,
            backend         TEXT NOT NULL,
            unit            TEXT NOT NULL UNIQUE,
            invocation_id   TEXT,
            state           TEXT NOT NULL CHECK (state IN ('planned', 'starting', 'loading', 'ready', 'draining', 'stopped', 'failed')),
            state_since_ms  INTEGER NOT NULL,
            port            INTEGER,
            main_pid        INTEGER,
            gpus            TEXT NOT NULL DEFAULT '',
            gpu_layers      INTEGER,
            context         INTEGER,
            estimated_bytes INTEGER,
            plan_json       TEXT,
            failure         TEXT,
            created_at_ms   INTEGER NOT NULL,
            last_used_ms    INTEGER
        ) STRICT;
        CREATE INDEX instances_model ON instances (model, state);

        CREATE TABLE instance_transitions (
            id          INTEGER PRIMARY KEY,
            instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
            state       TEXT NOT NULL,
            at_ms       INTEGER NOT NULL,
            message     TEXT
        ) STRICT;
        CREATE INDEX instance_transitions_instance ON instance_transitions (instance_id, at_ms);

        CREATE TABLE load_queue (
            id              INTEGER PRIMARY KEY,
            model           TEXT NOT NULL,
            requested_by    TEXT NOT NULL,
            requested_at_ms INTEGER NOT NULL,
            status          TEXT NOT NULL CHECK (status IN ('pending', 'loading', 'done', 'failed', 'cancelled')),
            params_json     TEXT,
            error           TEXT,
            finished_at_ms  INTEGER
        ) STRICT;
        CREATE INDEX load_queue_status ON load_queue (status, requested_at_ms);

        CREATE TABLE providers (
            name                TEXT PRIMARY KEY,
            kind                TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic')),
            base_url            TEXT NOT NULL,
            breaker_state       TEXT NOT NULL DEFAULT 'closed' CHECK (breaker_state IN ('closed', 'open', 'half-open')),
            breaker_changed_ms  INTEGER,
            last_error          TEXT,
            requests            INTEGER NOT NULL DEFAULT 0,
            failures            INTEGER NOT NULL DEFAULT 0
        ) STRICT;

        CREATE TABLE api_keys (
            id                  TEXT PRIMARY KEY,
            name                TEXT NOT NULL UNIQUE,
            prefix              TEXT NOT NULL,
            secret_sha256       BLOB NOT NULL UNIQUE,
            models              TEXT NOT NULL DEFAULT '',
            requests_per_minute INTEGER NOT NULL DEFAULT 0,
            tokens_per_minute   INTEGER NOT NULL DEFAULT 0,
            created_at_ms       INTEGER NOT NULL,
            expires_at_ms       INTEGER,
            revoked_at_ms       INTEGER,
            last_used_ms        INTEGER
        ) STRICT;

        CREATE TABLE audit_log (
            id                INTEGER PRIMARY KEY,
            request_id        TEXT NOT NULL,
            at_ms             INTEGER NOT NULL,
            key_id            TEXT,
            client            TEXT NOT NULL,
            model_requested   TEXT NOT NULL,
            target            TEXT,
            fallback_path     TEXT NOT NULL DEFAULT '',
            http_status       INTEGER NOT NULL,
            outcome           TEXT NOT NULL,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            tokens_estimated  INTEGER NOT NULL DEFAULT 0,
            ttft_ms           INTEGER,
            latency_ms        INTEGER NOT NULL,
            cost              REAL NOT NULL DEFAULT 0,
            error             TEXT,
            request_body      TEXT,
            response_body     TEXT
        ) STRICT;
        CREATE INDEX audit_log_time ON audit_log (at_ms);
        CREATE INDEX audit_log_model ON audit_log (model_requested, at_ms);
        CREATE INDEX audit_log_key ON audit_log (key_id, at_ms);

        CREATE TABLE measured_footprints (
            model_key         TEXT NOT NULL,
            backend_version   TEXT NOT NULL,
            cache_type        TEXT NOT NULL,
            full_offload      INTEGER NOT NULL CHECK (full_offload IN (0, 1)),
            context           INTEGER NOT NULL CHECK (context > 0),
            gpu_layers        INTEGER NOT NULL,
            gpu_fixed_bytes   INTEGER NOT NULL CHECK (gpu_fixed_bytes >= 0),
            host_fixed_bytes  INTEGER NOT NULL CHECK (host_fixed_bytes >= 0),
            measured_at_ms    INTEGER NOT NULL,
            PRIMARY KEY (model_key, backend_version, cache_type, full_offload, context, gpu_layers)
        ) STRICT;
        """,

        // 2: stored /v1/responses (issue #18). key_id NULL: the anonymous principal (the unix socket without a key).
        """
        CREATE TABLE responses (
            id                    TEXT PRIMARY KEY,
            key_id                TEXT,
            model                 TEXT NOT NULL,
            previous_response_id  TEXT,
            created_at_ms         INTEGER NOT NULL,
            input_tokens          INTEGER NOT NULL DEFAULT 0,
            output_tokens         INTEGER NOT NULL DEFAULT 0,
            input_items           TEXT NOT NULL,
            output_items          TEXT NOT NULL,
            response              TEXT NOT NULL
        ) STRICT;
        CREATE INDEX responses_created ON responses (created_at_ms);
        """,

        // 3: the exact-match response cache (issue #18): a hit/miss/bypass mark on audit rows, and persisted entries.
        """
        ALTER TABLE audit_log ADD COLUMN cache TEXT CHECK (cache IN ('hit', 'miss', 'bypass'));

        CREATE TABLE response_cache (
            owner             TEXT NOT NULL,
            key               TEXT NOT NULL,
            endpoint          TEXT NOT NULL,
            body              BLOB NOT NULL,
            prompt_tokens     INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            stored_at_ms      INTEGER NOT NULL,
            expires_at_ms     INTEGER NOT NULL,
            PRIMARY KEY (owner, key)
        ) STRICT;
        CREATE INDEX response_cache_expiry ON response_cache (expires_at_ms);
        """,
    ];
}
