using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>Measured footprints (table measured_footprints); a newer measurement of the same configuration replaces the older.</summary>
internal sealed class FootprintStore(Database database)
{
    public async Task SaveAsync(MeasuredFootprint footprint, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO measured_footprints (model_key, backend_version, cache_type, full_offload, context, gpu_layers, gpu_fixed_bytes, host_fixed_bytes, measured_at_ms)
            VALUES ($key, $version, $cache, $full, $context, $layers, $gpu, $host, $at)
            ON CONFLICT (model_key, backend_version, cache_type, full_offload, context, gpu_layers) DO UPDATE SET
                gpu_fixed_bytes = excluded.gpu_fixed_bytes, host_fixed_bytes = excluded.host_fixed_bytes, measured_at_ms = excluded.measured_at_ms
            """;
        command.Parameters.AddWithValue("$key", footprint.ModelKey);
        command.Parameters.AddWithValue("$version", footprint.BackendVersion);
        command.Parameters.AddWithValue("$cache", footprint.CacheType.ToString());
        command.Parameters.AddWithValue("$full", footprint.FullOffload ? 1 : 0);
        command.Parameters.AddWithValue("$context", (long)footprint.ContextLength);
        command.Parameters.AddWithValue("$layers", footprint.GpuLayers);
        command.Parameters.AddWithValue("$gpu", (long)footprint.GpuFixedBytes);
        command.Parameters.AddWithValue("$host", (long)footprint.HostFixedBytes);
        command.Parameters.AddWithValue("$at", footprint.MeasuredAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Every measurement of the model under this backend version (other versions may size buffers differently).</summary>
    public async Task<IReadOnlyList<MeasuredFootprint>> ListAsync(string modelKey, string backendVersion, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT cache_type, full_offload, context, gpu_layers, gpu_fixed_bytes, host_fixed_bytes, measured_at_ms
            FROM measured_footprints WHERE model_key = $key AND backend_version = $version ORDER BY context, gpu_layers
            """;
        command.Parameters.AddWithValue("$key", modelKey);
        command.Parameters.AddWithValue("$version", backendVersion);
        var rows = new List<MeasuredFootprint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (!Enum.TryParse<GgmlType>(reader.GetString(0), out var cacheType))
            {
                throw new StorageException($"measured_footprints has an unknown cache type '{reader.GetString(0)}' for model {modelKey}");
            }

            rows.Add(new MeasuredFootprint(
                modelKey,
                backendVersion,
                cacheType,
                reader.GetInt64(1) == 1,
                (ulong)reader.GetInt64(2),
                reader.GetInt32(3),
                (ulong)reader.GetInt64(4),
                (ulong)reader.GetInt64(5),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
        }

        return rows;
    }
}
