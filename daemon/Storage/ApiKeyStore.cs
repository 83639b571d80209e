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

        return (key, secret);
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(bool includeRevoked, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM api_keys {(includeRevoked ? "" : "WHERE revoked_at_ms IS NULL")} ORDER BY created_at_ms, id";
        return await ReadAllAsync(command, cancellationToken);
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

        await using var select = connection.CreateCommand();
        select.CommandText = $"SELECT {Columns} FROM api_keys WHERE id = $key OR name = $key";
        select.Parameters.AddWithValue("$key", idOrName);
        return (await ReadAllAsync(select, cancellationToken)).Single();
    }

    /// <summary>The active key whose secret this is, or null. Records the use.</summary>
    public async Task<ApiKeyRecord?> AuthenticateAsync(string secret, CancellationToken cancellationToken)
    {
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var hash = Hash(secret);
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns}, secret_sha256 FROM api_keys WHERE secret_sha256 = $hash";
        command.Parameters.AddWithValue("$hash", hash);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var stored = (byte[])reader["secret_sha256"];
        var key = Read(reader);
        if (!CryptographicOperations.FixedTimeEquals(stored, hash) || !key.IsActive(time.GetUtcNow()))
        {
            return null;
        }

        await reader.DisposeAsync();
        await using var touch = connection.CreateCommand();
        touch.CommandText = "UPDATE api_keys SET last_used_ms = $now WHERE id = $id";
        touch.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
        touch.Parameters.AddWithValue("$id", key.Id);
        await touch.ExecuteNonQueryAsync(cancellationToken);
        return key;
    }

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
