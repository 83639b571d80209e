using Microsoft.Data.Sqlite;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// A stored /v1/responses answer: who owns it (<see cref="KeyId"/>; null for the anonymous principal), the model asked
/// for, the response it continued, its input and output items and the whole response object, as JSON.
/// </summary>
internal sealed record StoredResponse(
    string Id,
    string? KeyId,
    string Model,
    string? PreviousResponseId,
    DateTimeOffset CreatedAt,
    long InputTokens,
    long OutputTokens,
    string InputItemsJson,
    string OutputItemsJson,
    string ResponseJson);

/// <summary>
/// Stored responses in SQLite. Every read and delete is scoped to the owner: another key's response, or one created
/// before <c>notBefore</c> (expired by the retention), is as absent as one that never existed.
/// </summary>
internal sealed class ResponseStore(Database database)
{
    private const string Columns = "id, key_id, model, previous_response_id, created_at_ms, input_tokens, output_tokens, input_items, output_items, response";

    public async Task InsertAsync(StoredResponse response, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"INSERT INTO responses ({Columns}) VALUES ($id, $key, $model, $previous, $created, $in, $out, $input, $output, $response)";
        command.Parameters.AddWithValue("$id", response.Id);
        command.Parameters.AddWithValue("$key", (object?)response.KeyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$model", response.Model);
        command.Parameters.AddWithValue("$previous", (object?)response.PreviousResponseId ?? DBNull.Value);
        command.Parameters.AddWithValue("$created", response.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$in", response.InputTokens);
        command.Parameters.AddWithValue("$out", response.OutputTokens);
        command.Parameters.AddWithValue("$input", response.InputItemsJson);
        command.Parameters.AddWithValue("$output", response.OutputItemsJson);
        command.Parameters.AddWithValue("$response", response.ResponseJson);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<StoredResponse?> FindAsync(string id, string? keyId, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM responses WHERE id = $id AND key_id IS $key AND created_at_ms >= $since";
        Scope(command, id, keyId, notBefore);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new StoredResponse(
            reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetString(3),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
            reader.GetInt64(5),
            reader.GetInt64(6),
            reader.GetString(7),
            reader.GetString(8),
            reader.GetString(9));
    }

    /// <summary>Deletes the owner's response; false when there is none (another key's counts as none).</summary>
    public async Task<bool> DeleteAsync(string id, string? keyId, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM responses WHERE id = $id AND key_id IS $key AND created_at_ms >= $since";
        Scope(command, id, keyId, notBefore);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM responses WHERE created_at_ms < $cutoff";
        command.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void Scope(SqliteCommand command, string id, string? keyId, DateTimeOffset notBefore)
    {
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$key", (object?)keyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$since", notBefore.ToUnixTimeMilliseconds());
    }
}
