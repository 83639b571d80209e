using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace UnifiedLlm.Daemon.Storage;

internal sealed record ApiKeyRecord(
    string Id,
    string Name,
    string Prefix,
    IReadOnlyList<string> Models,
    int RequestsPerMinute,
    long TokensPerMinute,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? LastUsedAt)
{
    public bool IsActive(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>API keys: the secret is shown once at creation; only its SHA-256 is stored (a 256-bit random secret needs no salt).</summary>
internal sealed class ApiKeyStore(Database database, TimeProvider time)
{
    private const string SecretPrefix = "ullm-";

    private readonly Lock tableGate = new();
    private readonly ConcurrentDictionary<string, long> unrecordedUses = new(StringComparer.Ordinal);
    private FrozenDictionary<string, ApiKeyRecord>? bySecretHash;
    private long tableVersion;

    /// <summary>Whether a token is in ullmd's key format (it may still be unknown, revoked or expired).</summary>
    public static bool IsUllmdSecret(string secret) => secret.StartsWith(SecretPrefix, StringComparison.Ordinal);

    public async Task<(ApiKeyRecord Key, string Secret)> CreateAsync(
        string name, IReadOnlyList<string> models, int requestsPerMinute, long tokensPerMinute, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        var secret = SecretPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var key = new ApiKeyRecord(
            Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            name,
            secret[..(SecretPrefix.Length + 6)],
            models,
            requestsPerMinute,
            tokensPerMinute,
            Truncate(time.GetUtcNow()),
            expiresAt,
            null,
            null);
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO api_keys (id, name, prefix, secret_sha256, models, requests_per_minute, tokens_per_minute, created_at_ms, expires_at_ms)
            VALUES ($id, $name, $prefix, $hash, $models, $rpm, $tpm, $created, $expires)
            """;
        command.Parameters.AddWithValue("$id", key.Id);
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$prefix", key.Prefix);
        command.Parameters.AddWithValue("$hash", Hash(secret));
        command.Parameters.AddWithValue("$models", string.Join('\n', models));
        command.Parameters.AddWithValue("$rpm", requestsPerMinute);
        command.Parameters.AddWithValue("$tpm", tokensPerMinute);
        command.Parameters.AddWithValue("$created", key.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$expires", (object?)expiresAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new DuplicateKeyNameException(name);
        }

        Invalidate();
        return (key, secret);
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(bool includeRevoked, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM api_keys {(includeRevoked ? "" : "WHERE revoked_at_ms IS NULL")} ORDER BY created_at_ms, name";
        return [.. (await ReadAllAsync(command, cancellationToken)).Select(WithUnrecordedUse)];
    }

    public async Task<int> CountActiveAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM api_keys WHERE revoked_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > $now)";
        command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken));
    }

    /// <summary>Revokes by id or by name; returns the revoked key, or null when neither matches.</summary>
    public async Task<ApiKeyRecord?> RevokeAsync(string idOrName, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using (var update = connection.CreateCommand())
        {
            update.CommandText = "UPDATE api_keys SET revoked_at_ms = coalesce(revoked_at_ms, $now) WHERE id = $key OR name = $key";
            update.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
            update.Parameters.AddWithValue("$key", idOrName);
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return null;
            }
        }

        Invalidate();
        await using var select = connection.CreateCommand();
        select.CommandText = $"SELECT {Columns} FROM api_keys WHERE id = $key OR name = $key";
        select.Parameters.AddWithValue("$key", idOrName);
        return (await ReadAllAsync(select, cancellationToken)).Single();
    }

    /// <summary>
    /// The active key whose secret this is, or null. Served from memory: no request waits on the database, which may be
    /// locked by another process or on a full disk. The use is recorded in memory and written by <see cref="RecordUsesAsync"/>.
    /// </summary>
    public async ValueTask<ApiKeyRecord?> AuthenticateAsync(string secret, CancellationToken cancellationToken)
    {
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var table = Volatile.Read(ref bySecretHash) ?? await LoadAsync(cancellationToken);
        var now = time.GetUtcNow();
        // Looked up by the secret's SHA-256: how long a comparison of hashes takes tells nothing about the secret.
        if (!table.TryGetValue(Convert.ToHexString(Hash(secret)), out var key) || !key.IsActive(now))
        {
            return null;
        }

        unrecordedUses[key.Id] = now.ToUnixTimeMilliseconds();
        return key;
    }

    /// <summary>The active key of this name (a verified client certificate's CN), or null; its use is recorded like a secret's.</summary>
    public async ValueTask<ApiKeyRecord?> FindActiveByNameAsync(string name, CancellationToken cancellationToken)
    {
        var table = Volatile.Read(ref bySecretHash) ?? await LoadAsync(cancellationToken);
        var now = time.GetUtcNow();
        var key = table.Values.FirstOrDefault(k => k.Name == name && k.IsActive(now));
        if (key is not null)
        {
            unrecordedUses[key.Id] = now.ToUnixTimeMilliseconds();
        }

        return key;
    }

    /// <summary>Writes the last-use times of keys used since the last call; on failure they stay to be written next time.</summary>
    public async Task<int> RecordUsesAsync(CancellationToken cancellationToken)
    {
        var uses = unrecordedUses.ToArray();
        if (uses.Length == 0)
        {
            return 0;
        }

        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using var touch = connection.CreateCommand();
        touch.CommandText = "UPDATE api_keys SET last_used_ms = max(coalesce(last_used_ms, 0), $now) WHERE id = $id";
        var now = touch.Parameters.Add("$now", SqliteType.Integer);
        var id = touch.Parameters.Add("$id", SqliteType.Text);
        foreach (var (key, at) in uses)
        {
            id.Value = key;
            now.Value = at;
            await touch.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        foreach (var use in uses)
        {
            // Only if no later use came in meanwhile; that one is written next time.
            unrecordedUses.TryRemove(use);
        }

        return uses.Length;
    }

    /// <summary>Reads every key into memory once; a change made through this store since the read started discards it.</summary>
    private async Task<FrozenDictionary<string, ApiKeyRecord>> LoadAsync(CancellationToken cancellationToken)
    {
        var version = Volatile.Read(ref tableVersion);
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns}, secret_sha256 FROM api_keys";
        var entries = new Dictionary<string, ApiKeyRecord>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                entries[Convert.ToHexString((byte[])reader["secret_sha256"])] = Read(reader);
            }
        }

        var table = entries.ToFrozenDictionary(StringComparer.Ordinal);
        lock (tableGate)
        {
            if (tableVersion == version)
            {
                bySecretHash = table;
            }
        }

        return table;
    }

    /// <summary>After a change to the keys: the next authentication reads them again.</summary>
    private void Invalidate()
    {
        lock (tableGate)
        {
            tableVersion++;
            bySecretHash = null;
        }
    }

    private ApiKeyRecord WithUnrecordedUse(ApiKeyRecord key) =>
        unrecordedUses.TryGetValue(key.Id, out var at) && (key.LastUsedAt is null || key.LastUsedAt.Value.ToUnixTimeMilliseconds() < at)
            ? key with { LastUsedAt = DateTimeOffset.FromUnixTimeMilliseconds(at) }
            : key;

    private const string Columns =
        "id, name, prefix, models, requests_per_minute, tokens_per_minute, created_at_ms, expires_at_ms, revoked_at_ms, last_used_ms";

    private static async Task<IReadOnlyList<ApiKeyRecord>> ReadAllAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var result = new List<ApiKeyRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(Read(reader));
        }

        return result;
    }

    private static ApiKeyRecord Read(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetString(3).Split('\n', StringSplitOptions.RemoveEmptyEntries),
        reader.GetInt32(4),
        reader.GetInt64(5),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
        OptionalTime(reader, 7),
        OptionalTime(reader, 8),
        OptionalTime(reader, 9));

    private static DateTimeOffset? OptionalTime(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    private static DateTimeOffset Truncate(DateTimeOffset t) => DateTimeOffset.FromUnixTimeMilliseconds(t.ToUnixTimeMilliseconds());

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

internal sealed class DuplicateKeyNameException(string name) : Exception($"an API key named '{name}' already exists");
