using Microsoft.Data.Sqlite;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Storage;

public sealed class DatabaseTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task A_new_database_is_created_in_wal_mode_with_every_table_at_the_latest_version()
    {
        var database = await Database.OpenAsync(dir.File("data/ullm.db"), CancellationToken.None);

        Assert.Equal(Database.LatestVersion, database.SchemaVersion);
        await using var connection = await database.ConnectAsync(CancellationToken.None);
        Assert.Equal("wal", await Scalar(connection, "PRAGMA journal_mode;"));
        Assert.Equal((long)Database.LatestVersion, await Scalar(connection, "PRAGMA user_version;"));
        var tables = new List<string>();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name";
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            tables.Add(reader.GetString(0));
        }

        Assert.Equal(["api_keys", "audit_log", "instance_transitions", "instances", "load_queue", "measured_footprints", "model_files", "providers", "response_cache", "responses"], tables);
    }

    [Fact]
    public async Task Reopening_keeps_the_data_and_runs_no_migration_twice()
    {
        var path = dir.File("ullm.db");
        var first = await Database.OpenAsync(path, CancellationToken.None);
        var keys = new ApiKeyStore(first, TimeProvider.System);
        await keys.CreateAsync("kept", [], 0, 0, null, CancellationToken.None);

        var second = await Database.OpenAsync(path, CancellationToken.None);

        Assert.Equal(["kept"], (await new ApiKeyStore(second, TimeProvider.System).ListAsync(false, CancellationToken.None)).Select(k => k.Name));
    }

    [Fact]
    public async Task A_database_from_a_newer_ullmd_is_refused_and_left_untouched()
    {
        var path = dir.File("ullm.db");
        await Database.OpenAsync(path, CancellationToken.None);
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await Scalar(connection, $"PRAGMA user_version = {Database.LatestVersion + 1};");
        }

        var e = await Assert.ThrowsAsync<StorageException>(() => Database.OpenAsync(path, CancellationToken.None));

        Assert.Contains($"schema version {Database.LatestVersion + 1}, newer than this ullmd supports ({Database.LatestVersion})", e.Message);
        await using var check = new SqliteConnection($"Data Source={path};Pooling=False");
        await check.OpenAsync();
        Assert.Equal((long)Database.LatestVersion + 1, await Scalar(check, "PRAGMA user_version;"));
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_refused_with_a_clear_error_and_not_overwritten()
    {
        var path = dir.Write("ullm.db", new string('x', 8192));

        var e = await Assert.ThrowsAsync<StorageException>(() => Database.OpenAsync(path, CancellationToken.None));

        Assert.Contains($"{path} is not a usable SQLite database", e.Message);
        Assert.Equal(new string('x', 8192), await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task A_database_with_a_damaged_page_is_reported_corrupt()
    {
        var path = dir.File("ullm.db");
        var database = await Database.OpenAsync(path, CancellationToken.None);
        var keys = new ApiKeyStore(database, TimeProvider.System);
        for (var i = 0; i < 200; i++)
        {
            await keys.CreateAsync($"key{i}", ["model-with-a-long-name-to-fill-pages"], 1, 1, null, CancellationToken.None);
        }

        SqliteConnection.ClearAllPools();
        await using (var checkpoint = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await checkpoint.OpenAsync();
            await Scalar(checkpoint, "PRAGMA wal_checkpoint(TRUNCATE);");
        }

        var bytes = await File.ReadAllBytesAsync(path);
        var pageSize = (bytes[16] << 8) | bytes[17];
        for (var i = pageSize * 3; i < pageSize * 4 && i < bytes.Length; i++)
        {
            bytes[i] = 0x5A;
        }

        await File.WriteAllBytesAsync(path, bytes);

        var e = await Assert.ThrowsAsync<StorageException>(() => Database.OpenAsync(path, CancellationToken.None));

        Assert.Contains(path, e.Message);
        Assert.Contains("restore it from a backup", e.Message);
    }

    private static async Task<object?> Scalar(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }
}
