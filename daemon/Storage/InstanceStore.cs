using Microsoft.Data.Sqlite;


namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// Backend instances and their state history, so a restarted ullmd can match running units to what it started
/// (by unit name and InvocationID) and people can see why an instance failed.
/// </summary>
internal sealed class InstanceStore(Database database, TimeProvider time)
{
    private const string Columns =
        "id, model, backend, unit, invocation_id, state, state_since_ms, port, main_pid, gpus, gpu_layers, context, estimated_bytes, plan_json, failure, created_at_ms, last_used_ms";

    /// <summary>Stores a new instance (its state and times as given) and its first transition.</summary>
    public async Task InsertAsync(InstanceRecord instance, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = $"""
                INSERT INTO instances ({Columns})
                VALUES ($id, $model, $backend, $unit, $invocation, $state, $since, $port, $pid, $gpus, $layers, $context, $bytes, $plan, $failure, $created, $used)
                """;
            command.Parameters.AddWithValue("$id", instance.Id);
            command.Parameters.AddWithValue("$model", instance.Model);
            command.Parameters.AddWithValue("$backend", instance.Backend);
            command.Parameters.AddWithValue("$unit", instance.Unit);
            command.Parameters.AddWithValue("$invocation", Nullable(instance.InvocationId));
            command.Parameters.AddWithValue("$state", instance.State.ToDatabase());
            command.Parameters.AddWithValue("$since", instance.StateSince.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$port", Nullable(instance.Port));
            command.Parameters.AddWithValue("$pid", Nullable(instance.MainPid));
            command.Parameters.AddWithValue("$gpus", string.Join(',', instance.Gpus));
            command.Parameters.AddWithValue("$layers", Nullable(instance.GpuLayers));
            command.Parameters.AddWithValue("$context", Nullable(instance.Context));
            command.Parameters.AddWithValue("$bytes", Nullable(instance.EstimatedBytes));
            command.Parameters.AddWithValue("$plan", Nullable(instance.PlanJson));
            command.Parameters.AddWithValue("$failure", Nullable(instance.Failure));
            command.Parameters.AddWithValue("$created", instance.CreatedAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$used", Nullable(instance.LastUsedAt?.ToUnixTimeMilliseconds()));
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                throw new StorageException($"an instance with id '{instance.Id}' or unit '{instance.Unit}' already exists", e);
            }
        }

        await AppendTransitionAsync(connection, transaction, instance.Id, instance.State, instance.StateSince, null, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Moves the instance to <paramref name="state"/>, records the move with <paramref name="message"/>, and stores the
    /// fields of <paramref name="update"/> that are set. A move to failed keeps the message as the failure.
    /// </summary>
    public async Task UpdateStateAsync(string id, InstanceState state, string? message, InstanceUpdate? update, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = """
                UPDATE instances SET state = $state, state_since_ms = $now,
                    port = coalesce($port, port), main_pid = coalesce($pid, main_pid), invocation_id = coalesce($invocation, invocation_id),
                    failure = CASE WHEN $state = 'failed' THEN $message ELSE failure END
                WHERE id = $id
                """;
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$state", state.ToDatabase());
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$port", Nullable(update?.Port));
            command.Parameters.AddWithValue("$pid", Nullable(update?.MainPid));
            command.Parameters.AddWithValue("$invocation", Nullable(update?.InvocationId));
            command.Parameters.AddWithValue("$message", Nullable(message));
            if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                throw new StorageException($"no instance with id '{id}'");
            }
        }

        await AppendTransitionAsync(connection, transaction, id, state, now, message, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Records that the instance served a request.</summary>
    public async Task TouchAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE instances SET last_used_ms = $now WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<InstanceRecord?> GetAsync(string id, CancellationToken cancellationToken) =>
        (await SelectAsync("WHERE id = $key", id, cancellationToken)).SingleOrDefault();

    public async Task<InstanceRecord?> GetByUnitAsync(string unit, CancellationToken cancellationToken) =>
        (await SelectAsync("WHERE unit = $key", unit, cancellationToken)).SingleOrDefault();

    /// <summary>Instances neither stopped nor failed, oldest first.</summary>
    public Task<IReadOnlyList<InstanceRecord>> ListActiveAsync(CancellationToken cancellationToken) =>
        SelectAsync("WHERE state NOT IN ('stopped', 'failed')", null, cancellationToken);

    /// <summary>The instances of a model (any state), newest first.</summary>
    public async Task<IReadOnlyList<InstanceRecord>> ListByModelAsync(string model, CancellationToken cancellationToken) =>
        [.. (await SelectAsync("WHERE model = $key", model, cancellationToken)).Reverse()];

    public async Task<IReadOnlyList<InstanceTransition>> ListTransitionsAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT state, at_ms, message FROM instance_transitions WHERE instance_id = $id ORDER BY id";
        command.Parameters.AddWithValue("$id", id);
        var result = new List<InstanceTransition>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(new InstanceTransition(
                InstanceStates.FromDatabase(reader.GetString(0)),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                reader.IsDBNull(2) ? null : reader.GetString(2)));
        }

        return result;
    }

    private async Task<IReadOnlyList<InstanceRecord>> SelectAsync(string where, string? key, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM instances {where} ORDER BY created_at_ms, id";
        if (key is not null)
        {
            command.Parameters.AddWithValue("$key", key);
        }

        var result = new List<InstanceRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(Read(reader));
        }

        return result;
    }

    private static async Task AppendTransitionAsync(
        SqliteConnection connection, SqliteTransaction transaction, string id, InstanceState state, DateTimeOffset at, string? message, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT INTO instance_transitions (instance_id, state, at_ms, message) VALUES ($id, $state, $at, $message)";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$state", state.ToDatabase());
        command.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$message", Nullable(message));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static InstanceRecord Read(SqliteDataReader reader) => new()
    {
        Id = reader.GetString(0),
        Model = reader.GetString(1),
        Backend = reader.GetString(2),
        Unit = reader.GetString(3),
        InvocationId = reader.IsDBNull(4) ? null : reader.GetString(4),
        State = InstanceStates.FromDatabase(reader.GetString(5)),
        StateSince = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
        Port = reader.IsDBNull(7) ? null : reader.GetInt32(7),
        MainPid = reader.IsDBNull(8) ? null : reader.GetInt32(8),
        Gpus = [.. reader.GetString(9).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)],
        GpuLayers = reader.IsDBNull(10) ? null : reader.GetInt32(10),
        Context = reader.IsDBNull(11) ? null : reader.GetInt32(11),
        EstimatedBytes = reader.IsDBNull(12) ? null : reader.GetInt64(12),
        PlanJson = reader.IsDBNull(13) ? null : reader.GetString(13),
        Failure = reader.IsDBNull(14) ? null : reader.GetString(14),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(15)),
        LastUsedAt = reader.IsDBNull(16) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(16)),
    };

    private static object Nullable(object? value) => value ?? DBNull.Value;
}
