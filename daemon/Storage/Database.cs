using Microsoft.Data.Sqlite;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// The SQLite database at data_dir/ullm.db: opened in WAL mode, checked, and migrated at start.
/// Hands out short-lived connections (SQLite pools them); every failure to open is a <see cref="StorageException"/>
/// that says what is wrong and what to do, never a silent reset.
/// </summary>
internal sealed class Database
{
    private readonly string connectionString;

    private Database(string path, int schemaVersion)
    {
        Path = path;
        SchemaVersion = schemaVersion;
        connectionString = ConnectionString(path, SqliteOpenMode.ReadWrite);
    }

    public string Path { get; }

    public int SchemaVersion { get; }

    public static int LatestVersion => Migrations.All.Count;

    public static async Task<Database> OpenAsync(string path, CancellationToken cancellationToken)
    {
        var directory = System.IO.Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory))
        {
            try
            {
                Directory.CreateDirectory(directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"cannot create the data directory {directory}: {e.Message}", e);
            }
        }

        try
        {
            await using var connection = new SqliteConnection(ConnectionString(path, SqliteOpenMode.ReadWriteCreate));
            await connection.OpenAsync(cancellationToken);
            await ExecuteAsync(connection, "PRAGMA busy_timeout = 5000;", cancellationToken);
            var check = (string?)await ScalarAsync(connection, "PRAGMA quick_check;", cancellationToken);
            if (check != "ok")
            {
                throw new StorageException($"the database {path} is corrupt (quick_check: {check}); restore it from a backup or move it away to start empty");
            }

            var version = Convert.ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken));
            if (version > LatestVersion)
            {
                throw new StorageException(
                    $"the database {path} has schema version {version}, newer than this ullmd supports ({LatestVersion}); run a newer ullmd or restore a backup made with this version");
            }

            var mode = (string?)await ScalarAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new StorageException($"cannot switch {path} to WAL mode (got '{mode}')");
            }

            for (var next = version; next < LatestVersion; next++)
            {
                await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
                await ExecuteAsync(connection, Migrations.All[next], cancellationToken, transaction);
                await ExecuteAsync(connection, $"PRAGMA user_version = {next + 1};", cancellationToken, transaction);
                await transaction.CommitAsync(cancellationToken);
            }

            return new Database(path, LatestVersion);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 or 11)
        {
            throw new StorageException($"the file {path} is not a usable SQLite database ({e.Message}); restore it from a backup or move it away to start empty", e);
        }
        catch (SqliteException e)
        {
            throw new StorageException($"cannot open the database {path}: {e.Message}", e);
        }
    }

    public async Task<SqliteConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await ExecuteAsync(connection, "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;", cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static string ConnectionString(string path, SqliteOpenMode mode) =>
        new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Cache = SqliteCacheMode.Private, Pooling = true }.ToString();

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}

internal sealed class StorageException(string message, Exception? inner = null) : Exception(message, inner);
