using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// Inserts audit rows in batches, each in one transaction, over one connection kept open and through statements
/// prepared once: the audit writer holds one for its life, so that a batch takes no connection from the pool, sets no
/// pragma and compiles no statement. A batch that fails is rolled back whole and the inserter stays usable. Not
/// thread-safe: one writer uses it.
/// </summary>
internal sealed class AuditInserter : IAsyncDisposable
{
    /// <summary>
    /// Rows inserted between two offers of the core to other threads. A batch of hundreds of rows keeps a core for
    /// milliseconds; a request whose thread wakes on that core waits behind it unless the batch steps aside.
    /// </summary>
    public const int RowsPerYield = 32;

    private const string InsertSql = """
        INSERT INTO audit_log (request_id, at_ms, key_id, client, model_requested, target, fallback_path, http_status, outcome,
                               prompt_tokens, completion_tokens, tokens_estimated, ttft_ms, latency_ms, cost, error, cache)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
        """;

    private readonly SqliteConnection connection;
    private readonly sqlite3 db;
    private readonly sqlite3_stmt begin;
    private readonly sqlite3_stmt insert;
    private readonly sqlite3_stmt commit;
    private readonly sqlite3_stmt rollback;
    private byte[] scratch = new byte[1024];

    private AuditInserter(SqliteConnection connection, IReadOnlyList<sqlite3_stmt> statements)
    {
        this.connection = connection;
        db = connection.Handle!;
        (begin, insert, commit, rollback) = (statements[0], statements[1], statements[2], statements[3]);
    }

    public static async Task<AuditInserter> OpenAsync(Database database, CancellationToken cancellationToken)
    {
        var connection = await database.ConnectAsync(cancellationToken);
        var statements = new List<sqlite3_stmt>(4);
        try
        {
            var db = connection.Handle!;
            // Audit rows are committed as answers finish (group commit): they must survive ullmd being killed, which the
            // WAL in the page cache ensures, not a power cut, which would take an fsync per answer.
            Check(db, raw.sqlite3_exec(db, "PRAGMA synchronous = NORMAL"));
            foreach (var sql in (string[])["BEGIN IMMEDIATE", InsertSql, "COMMIT", "ROLLBACK"])
            {
                statements.Add(Prepare(db, sql));
            }

            return new AuditInserter(connection, statements);
        }
        catch
        {
            statements.ForEach(statement => statement.Dispose());
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Inserts the rows in one transaction; a row the table refuses fails the batch with SQLite's reason, and none of it is written.</summary>
    public void Insert(IReadOnlyList<AuditRow> rows, CancellationToken cancellationToken)
    {
        Run(begin);
        try
        {
            for (var i = 0; i < rows.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (i > 0 && i % RowsPerYield == 0)
                {
                    Thread.Yield();
                }

                Bind(rows[i]);
                Run(insert);
            }

            Run(commit);
        }
        catch
        {
            if (raw.sqlite3_get_autocommit(db) == 0)
            {
                raw.sqlite3_step(rollback);
                raw.sqlite3_reset(rollback);
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        begin.Dispose();
        insert.Dispose();
        commit.Dispose();
        rollback.Dispose();
        await connection.DisposeAsync();
    }

    /// <summary>Binds by position: through SqliteCommand every named parameter was looked up again for each row.</summary>
    private void Bind(AuditRow row)
    {
        Text(1, row.RequestId);
        raw.sqlite3_bind_int64(insert, 2, row.Time.ToUnixTimeMilliseconds());
        Text(3, row.KeyId);
        Text(4, row.Client);
        Text(5, row.ModelRequested);
        Text(6, row.Target);
        Text(7, row.FallbackPath.Count == 1 ? row.FallbackPath[0] : string.Join('\n', row.FallbackPath));
        raw.sqlite3_bind_int64(insert, 8, row.HttpStatus);
        Text(9, row.Outcome);
        raw.sqlite3_bind_int64(insert, 10, row.PromptTokens);
        raw.sqlite3_bind_int64(insert, 11, row.CompletionTokens);
        raw.sqlite3_bind_int64(insert, 12, row.TokensEstimated ? 1 : 0);
        if (row.TtftMs is { } ttft)
        {
            raw.sqlite3_bind_int64(insert, 13, ttft);
        }
        else
        {
            raw.sqlite3_bind_null(insert, 13);
        }

        raw.sqlite3_bind_int64(insert, 14, row.LatencyMs);
        raw.sqlite3_bind_double(insert, 15, row.Cost);
        Text(16, row.Error);
        Text(17, row.Cache);
    }

    /// <summary>Binds UTF-8 encoded into the scratch buffer (SQLite copies it), instead of a new array per value.</summary>
    private void Text(int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(insert, index);
            return;
        }

        var most = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (scratch.Length < most)
        {
            scratch = new byte[Math.Max(most, scratch.Length * 2)];
        }

        raw.sqlite3_bind_text(insert, index, scratch.AsSpan(0, Encoding.UTF8.GetBytes(value, scratch)));
    }

    /// <summary>Steps a statement that returns no rows and resets it for its next use; SQLite's reason is read before the reset.</summary>
    private void Run(sqlite3_stmt statement)
    {
        var result = raw.sqlite3_step(statement);
        var failure = result == raw.SQLITE_DONE ? null : Failure(db, result);
        raw.sqlite3_reset(statement);
        if (failure is not null)
        {
            throw failure;
        }
    }

    private static sqlite3_stmt Prepare(sqlite3 db, string sql)
    {
        var result = raw.sqlite3_prepare_v2(db, sql, out var statement);
        if (result != raw.SQLITE_OK)
        {
            statement.Dispose();
            throw Failure(db, result);
        }

        return statement;
    }

    private static void Check(sqlite3 db, int result)
    {
        if (result != raw.SQLITE_OK)
        {
            throw Failure(db, result);
        }
    }

    private static SqliteException Failure(sqlite3 db, int result) =>
        new($"SQLite Error {result}: '{raw.sqlite3_errmsg(db).utf8_to_string()}'.", result);
}
