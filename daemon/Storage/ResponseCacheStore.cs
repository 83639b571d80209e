namespace UnifiedLlm.Daemon.Storage;

/// <summary>A persisted cache entry: the owner (model or route), the key, the endpoint, the answer's JSON and when it was stored.</summary>
internal sealed record CacheRow(string Owner, string Key, string Endpoint, byte[] Body, long PromptTokens, long CompletionTokens, DateTimeOffset StoredAt, DateTimeOffset ExpiresAt);

/// <summary>The response cache's entries for owners with <c>persist = true</c> (table response_cache).</summary>
internal sealed class ResponseCacheStore(Database database)
{
    public async Task PutAsync(CacheRow row, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO response_cache (owner, key, endpoint, body, prompt_tokens, completion_tokens, stored_at_ms, expires_at_ms)
            VALUES ($owner, $key, $endpoint, $body, $prompt, $completion, $stored, $expires)
            ON CONFLICT (owner, key) DO UPDATE SET
                endpoint = excluded.endpoint, body = excluded.body, prompt_tokens = excluded.prompt_tokens,
                completion_tokens = excluded.completion_tokens, stored_at_ms = excluded.stored_at_ms, expires_at_ms = excluded.expires_at_ms
            """;
        command.Parameters.AddWithValue("$owner", row.Owner);
        command.Parameters.AddWithValue("$key", row.Key);
        command.Parameters.AddWithValue("$endpoint", row.Endpoint);
        command.Parameters.AddWithValue("$body", row.Body);
        command.Parameters.AddWithValue("$prompt", row.PromptTokens);
        command.Parameters.AddWithValue("$completion", row.CompletionTokens);
        command.Parameters.AddWithValue("$stored", row.StoredAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$expires", row.ExpiresAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The owner's entries not expired at <paramref name="now"/>, oldest first, after deleting every expired row.</summary>
    public async Task<IReadOnlyList<CacheRow>> LoadAsync(string owner, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await PruneExpiredAsync(now, cancellationToken);
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT key, endpoint, body, prompt_tokens, completion_tokens, stored_at_ms, expires_at_ms
            FROM response_cache WHERE owner = $owner ORDER BY stored_at_ms, key
            """;
        command.Parameters.AddWithValue("$owner", owner);
        var rows = new List<CacheRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new CacheRow(
                owner,
                reader.GetString(0),
                reader.GetString(1),
                (byte[])reader.GetValue(2),
                reader.GetInt64(3),
                reader.GetInt64(4),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
        }

        return rows;
    }

    public async Task<int> PruneExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM response_cache WHERE expires_at_ms <= $now";
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task DeleteAsync(string owner, IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "DELETE FROM response_cache WHERE owner = $owner AND key = $key";
        var ownerParameter = command.Parameters.AddWithValue("$owner", owner);
        var keyParameter = command.Parameters.AddWithValue("$key", "");
        foreach (var key in keys)
        {
            keyParameter.Value = key;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Deletes the owner's entries, or every entry when <paramref name="owner"/> is null; returns how many.</summary>
    public async Task<int> ClearAsync(string? owner, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = owner is null ? "DELETE FROM response_cache" : "DELETE FROM response_cache WHERE owner = $owner";
        if (owner is not null)
        {
            command.Parameters.AddWithValue("$owner", owner);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
