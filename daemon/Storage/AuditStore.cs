using Microsoft.Data.Sqlite;

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

    /// <summary>Inserts a batch in one transaction (the journal's recovery; the audit writer keeps an <see cref="AuditInserter"/> open).</summary>
    public async Task InsertAsync(IReadOnlyList<AuditRow> rows, CancellationToken cancellationToken)
    {
        await using var inserter = await OpenInserterAsync(cancellationToken);
        inserter.Insert(rows, cancellationToken);
    }

    public Task<AuditInserter> OpenInserterAsync(CancellationToken cancellationToken) => AuditInserter.OpenAsync(database, cancellationToken);

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
