using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace UnifiedLlm.Daemon.Storage;

internal sealed record AuditRow(
    string RequestId,
    DateTimeOffset Time,
    string? KeyId,
    string Client,
    string ModelRequested,
    string? Target,
    IReadOnlyList<string> FallbackPath,
    int HttpStatus,
    string Outcome,
    long PromptTokens,
    long CompletionTokens,
    bool TokensEstimated,
    long? TtftMs,
    long LatencyMs,
    double Cost,
    string? Error)
{
    /// <summary>What the response cache did (hit, miss, bypass); null when it is off for the model.</summary>
    public string? Cache { get; init; }
}

internal sealed record AuditQuery(DateTimeOffset? Since, string? Model, string? KeyId, int Limit);

/// <summary>Reads and writes the audit log. Writers batch rows in one transaction.</summary>
internal sealed class AuditStore(Database database)
{
    public const int MaxLimit = 10_000;

    private const string InsertSql = """
        INSERT INTO audit_log (request_id, at_ms, key_id, client, model_requested, target, fallback_path, http_status, outcome,
                               prompt_tokens, completion_tokens, tokens_estimated, ttft_ms, latency_ms, cost, error, cache)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
        """;

    /// <summary>
    /// Inserts a batch in one transaction through one prepared statement bound by position. Through SqliteCommand every
    /// named parameter was looked up again for each row: a fifth of the writer's CPU at twenty thousand requests/s.
    /// </summary>
    public async Task InsertAsync(IReadOnlyCollection<AuditRow> rows, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        var db = connection.Handle!;
        // Audit rows are committed as answers finish (group commit): they must survive ullmd being killed, which the WAL
        // in the page cache ensures, not a power cut, which would take an fsync per answer.
        Check(db, raw.sqlite3_exec(db, "PRAGMA synchronous = NORMAL"));
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        Check(db, raw.sqlite3_prepare_v2(db, InsertSql, out var statement));
        var scratch = new byte[1024];
        using (statement)
        {
            foreach (var row in rows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Text(statement, ref scratch, 1, row.RequestId);
                raw.sqlite3_bind_int64(statement, 2, row.Time.ToUnixTimeMilliseconds());
                Text(statement, ref scratch, 3, row.KeyId);
                Text(statement, ref scratch, 4, row.Client);
                Text(statement, ref scratch, 5, row.ModelRequested);
                Text(statement, ref scratch, 6, row.Target);
                Text(statement, ref scratch, 7, row.FallbackPath.Count == 1 ? row.FallbackPath[0] : string.Join('\n', row.FallbackPath));
                raw.sqlite3_bind_int64(statement, 8, row.HttpStatus);
                Text(statement, ref scratch, 9, row.Outcome);
                raw.sqlite3_bind_int64(statement, 10, row.PromptTokens);
                raw.sqlite3_bind_int64(statement, 11, row.CompletionTokens);
                raw.sqlite3_bind_int64(statement, 12, row.TokensEstimated ? 1 : 0);
                if (row.TtftMs is { } ttft)
                {
                    raw.sqlite3_bind_int64(statement, 13, ttft);
                }
                else
                {
                    raw.sqlite3_bind_null(statement, 13);
                }

                raw.sqlite3_bind_int64(statement, 14, row.LatencyMs);
                raw.sqlite3_bind_double(statement, 15, row.Cost);
                Text(statement, ref scratch, 16, row.Error);
                Text(statement, ref scratch, 17, row.Cache);
                var result = raw.sqlite3_step(statement);
                if (result != raw.SQLITE_DONE)
                {
                    Check(db, result);
                }

                raw.sqlite3_reset(statement);
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Binds UTF-8 encoded into <paramref name="scratch"/> (SQLite copies it), instead of a new array per value.</summary>
    private static void Text(sqlite3_stmt statement, ref byte[] scratch, int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(statement, index);
            return;
        }

        var most = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (scratch.Length < most)
        {
            scratch = new byte[Math.Max(most, scratch.Length * 2)];
        }

        raw.sqlite3_bind_text(statement, index, scratch.AsSpan(0, Encoding.UTF8.GetBytes(value, scratch)));
    }

    private static void Check(sqlite3 db, int result)
    {
        if (result != raw.SQLITE_OK)
        {
            throw new SqliteException($"SQLite Error {result}: '{raw.sqlite3_errmsg(db).utf8_to_string()}'.", result);
        }
    }

    public async Task<IReadOnlyList<AuditRow>> QueryAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var where = new List<string>();
        if (query.Since is { } since)
        {
            where.Add("at_ms >= $since");
            command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        }

        if (!string.IsNullOrEmpty(query.Model))
        {
            where.Add("model_requested = $model");
            command.Parameters.AddWithValue("$model", query.Model);
        }

        if (!string.IsNullOrEmpty(query.KeyId))
        {
            where.Add("key_id = $key");
            command.Parameters.AddWithValue("$key", query.KeyId);
        }

        command.CommandText = $"""
            SELECT request_id, at_ms, key_id, client, model_requested, target, fallback_path, http_status, outcome,
                   prompt_tokens, completion_tokens, tokens_estimated, ttft_ms, latency_ms, cost, error, cache
            FROM audit_log {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")}
            ORDER BY at_ms DESC, id DESC LIMIT $limit
            """;
        command.Parameters.AddWithValue("$limit", Math.Clamp(query.Limit, 1, MaxLimit));
        var rows = new List<AuditRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new AuditRow(
                reader.GetString(0),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetString(6).Split('\n', StringSplitOptions.RemoveEmptyEntries),
                reader.GetInt32(7),
                reader.GetString(8),
                reader.GetInt64(9),
                reader.GetInt64(10),
                reader.GetInt64(11) != 0,
                reader.IsDBNull(12) ? null : reader.GetInt64(12),
                reader.GetInt64(13),
                reader.GetDouble(14),
                reader.IsDBNull(15) ? null : reader.GetString(15))
            {
                Cache = reader.IsDBNull(16) ? null : reader.GetString(16),
            });
        }

        return rows;
    }

    /// <summary>The request ids of the rows written at or after <paramref name="since"/> (the audit journal's recovery).</summary>
    public async Task<HashSet<string>> RequestIdsSinceAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT request_id FROM audit_log WHERE at_ms >= $since";
        command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public async Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM audit_log WHERE at_ms < $cutoff";
        command.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
