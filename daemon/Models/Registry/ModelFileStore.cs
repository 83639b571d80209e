using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>The model_files table: one row per scanned model (GGUF file or SafeTensors directory), keyed by path, with its profile as JSON or its error.</summary>
internal sealed class ModelFileStore(Database database)
{
    public async Task<Dictionary<string, ScannedModelFile>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT path, size_bytes, mtime_ms, profile_json, error, scanned_at_ms, format FROM model_files";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var files = new Dictionary<string, ScannedModelFile>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            var file = Read(reader);
            files[file.Path] = file;
        }

        return files;
    }

    public async Task<ScannedModelFile?> FindAsync(string path, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT path, size_bytes, mtime_ms, profile_json, error, scanned_at_ms, format FROM model_files WHERE path = $path";
        command.Parameters.AddWithValue("$path", path);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    public async Task SaveAsync(ScannedModelFile file, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO model_files (path, format, size_bytes, mtime_ms, architecture, parameter_count, quantization, layer_count,
                                     context_length, profile_json, error, scanned_at_ms)
            VALUES ($path, $format, $size, $mtime, $arch, $params, $quant, $layers, $ctx, $profile, $error, $scanned)
            ON CONFLICT (path) DO UPDATE SET
                format = excluded.format, size_bytes = excluded.size_bytes, mtime_ms = excluded.mtime_ms, architecture = excluded.architecture,
                parameter_count = excluded.parameter_count, quantization = excluded.quantization, layer_count = excluded.layer_count,
                context_length = excluded.context_length, profile_json = excluded.profile_json, error = excluded.error,
                scanned_at_ms = excluded.scanned_at_ms
            """;
        var p = file.Profile;
        command.Parameters.AddWithValue("$path", file.Path);
        command.Parameters.AddWithValue("$format", file.Format);
        command.Parameters.AddWithValue("$size", file.SizeBytes);
        command.Parameters.AddWithValue("$mtime", file.ModifiedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$arch", (object?)p?.Architecture ?? DBNull.Value);
        command.Parameters.AddWithValue("$params", p is null ? DBNull.Value : (long)Math.Min(p.ParameterCount, long.MaxValue));
        command.Parameters.AddWithValue("$quant", (object?)p?.FileType ?? DBNull.Value);
        command.Parameters.AddWithValue("$layers", p is null ? DBNull.Value : p.LayerCount);
        command.Parameters.AddWithValue("$ctx", p is null ? DBNull.Value : (long)Math.Min(p.ContextLength, long.MaxValue));
        command.Parameters.AddWithValue("$profile", p is null ? DBNull.Value : JsonSerializer.Serialize(p, ModelProfileJsonContext.Default.ModelProfile));
        command.Parameters.AddWithValue("$error", (object?)file.Error ?? DBNull.Value);
        command.Parameters.AddWithValue("$scanned", file.ScannedAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM model_files WHERE path = $path";
        command.Parameters.AddWithValue("$path", path);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static ScannedModelFile Read(SqliteDataReader reader)
    {
        var path = reader.GetString(0);
        ModelProfile? profile = null;
        var error = reader.IsDBNull(4) ? null : reader.GetString(4);
        if (!reader.IsDBNull(3))
        {
            try
            {
                profile = JsonSerializer.Deserialize(reader.GetString(3), ModelProfileJsonContext.Default.ModelProfile);
            }
            catch (JsonException e)
            {
                error = $"the stored profile cannot be read back ({e.Message}); run a scan";
            }
        }

        return new ScannedModelFile(
            path,
            reader.GetInt64(1),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
            profile,
            error,
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)))
        {
            Format = reader.GetString(6),
        };
    }
}

/// <summary>Source-generated metadata for the stored profile, with System.Text.Json's default options (the stored shape).</summary>
[JsonSerializable(typeof(ModelProfile))]
internal sealed partial class ModelProfileJsonContext : JsonSerializerContext;
