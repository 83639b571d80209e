using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Audit rows that cannot be written are never lost silently: they are counted, in the queue and in /metrics.</summary>
public sealed class AuditWriterTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory dir = new();
    private readonly ConfigHolder config;
    private readonly GatewayMetrics metrics;
    private readonly AuditQueue queue;

    public AuditWriterTests()
    {
        var events = new EventHub();
        config = new ConfigHolder(ConfigLoader.Parse("[audit]\nqueue_capacity = 3\n", "c.toml"), events, TimeProvider.System);
        metrics = new GatewayMetrics(new UpstreamHealth(config, events, TimeProvider.System));
        queue = new AuditQueue(config, metrics, TimeProvider.System);
    }

    public void Dispose()
    {
        config.Dispose();
        dir.Dispose();
    }

    [Fact]
    public async Task Rows_beyond_a_full_queue_are_counted_the_rest_written_and_the_queue_drained_at_stop()
    {
        var store = new AuditStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));
        for (var i = 0; i < 5; i++)
        {
            queue.Enqueue(Row($"r{i}"));
        }

        Assert.Equal(2, queue.Dropped);
        Assert.Contains("ullm_audit_rows_dropped_total 2", await MetricsAsync(), StringComparison.Ordinal);
        using var writer = new AuditWriter(queue, store, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        await WaitUntilAsync(async () => (await IdsAsync(store)).Count == 3, "the queued rows were not written");

        // Stopping cuts the batch's linger short and writes what is queued.
        queue.Enqueue(Row("at-stop"));
        await writer.StopAsync(CancellationToken.None);

        Assert.Equal(["at-stop", "r2", "r1", "r0"], await IdsAsync(store));
        Assert.Equal(2, queue.Dropped);
    }

    [Fact]
    public async Task A_batch_the_database_refuses_is_counted_as_dropped_and_the_writer_goes_on()
    {
        var path = dir.File("ullm.db");
        var store = new AuditStore(await Database.OpenAsync(path, CancellationToken.None));
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var rename = connection.CreateCommand();
            rename.CommandText = "ALTER TABLE audit_log RENAME TO audit_log_away";
            await rename.ExecuteNonQueryAsync();
        }

        using var writer = new AuditWriter(queue, store, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        queue.Enqueue(Row("lost-1"));
        queue.Enqueue(Row("lost-2"));
        await WaitUntilAsync(() => Task.FromResult(queue.Dropped == 2), "the refused batch was not counted as dropped");

        Assert.Contains("ullm_audit_rows_dropped_total 2", await MetricsAsync(), StringComparison.Ordinal);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_row_committed_for_a_finished_answer_is_in_the_database_when_the_call_returns_and_waiting_rows_share_a_batch()
    {
        var store = new AuditStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));
        using var writer = new AuditWriter(queue, store, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        queue.Enqueue(Row("refused"));

        // Not waited for: written with the next batch, or after the linger.
        await queue.CommitAsync(Row("answered"), CancellationToken.None);
        var afterOne = await IdsAsync(store);
        await Task.WhenAll(queue.CommitAsync(Row("a"), CancellationToken.None), queue.CommitAsync(Row("b"), CancellationToken.None));
        var afterTwo = await IdsAsync(store);

        Assert.Contains("answered", afterOne);
        Assert.Contains("a", afterTwo);
        Assert.Contains("b", afterTwo);
        await writer.StopAsync(CancellationToken.None);
        Assert.Equal(0, queue.Dropped);
    }

    [Fact]
    public async Task While_the_database_is_locked_answers_wait_at_most_the_commit_wait_and_then_not_at_all()
    {
        var path = dir.File("ullm.db");
        var store = new AuditStore(await Database.OpenAsync(path, CancellationToken.None));
        using var writer = new AuditWriter(queue, store, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        await using var other = new SqliteConnection($"Data Source={path};Pooling=False");
        await other.OpenAsync();
        await using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();
        }

        var first = System.Diagnostics.Stopwatch.StartNew();
        await queue.CommitAsync(Row("during-lock-1"), CancellationToken.None);
        var firstWait = first.Elapsed;
        // The write began a moment after the first answer's wait did: give it time to be stuck past the commit wait.
        await Task.Delay(TimeSpan.FromMilliseconds(250));
        var second = System.Diagnostics.Stopwatch.StartNew();
        await queue.CommitAsync(Row("during-lock-2"), CancellationToken.None);
        var secondWait = second.Elapsed;
        await using (var rollback = other.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        Assert.InRange(firstWait, AuditQueue.CommitWait - TimeSpan.FromMilliseconds(100), AuditQueue.CommitWait + TimeSpan.FromSeconds(2));
        Assert.True(secondWait < TimeSpan.FromMilliseconds(500), $"the second answer waited {secondWait} on a write already stuck for {firstWait}");
        await WaitUntilAsync(async () => (await IdsAsync(store)).Contains("during-lock-2"), "the rows were not written once the lock was released");
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task With_the_journal_an_answer_does_not_wait_for_SQLite_its_row_is_in_the_journal_first_and_the_journal_empties_once_written()
    {
        var path = dir.File("ullm.db");
        var store = new AuditStore(await Database.OpenAsync(path, CancellationToken.None));
        using var journal = new AuditJournal(dir.File("audit.journal"));
        using var writer = new AuditWriter(queue, store, TimeProvider.System, NullLogger<AuditWriter>.Instance, journal);
        await writer.StartAsync(CancellationToken.None);
        Assert.True(queue.Journalled);
        await using var other = new SqliteConnection($"Data Source={path};Pooling=False");
        await other.OpenAsync();
        await using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();
        }

        // The database is locked: the row cannot be committed, and without the journal the answer would wait CommitWait.
        var answer = System.Diagnostics.Stopwatch.StartNew();
        await queue.CommitAsync(Row("answered"), CancellationToken.None);
        var waited = answer.Elapsed;
        var journalled = ReadShared(journal.Path);
        await using (var rollback = other.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        Assert.True(waited < AuditQueue.CommitWait / 4, $"the answer waited {waited} for a locked database");
        Assert.Contains("\"request_id\":\"answered\"", journalled, StringComparison.Ordinal);
        // Rows name keys, clients and models: only root reads the journal, as the database.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(journal.Path));
        await WaitUntilAsync(async () => (await IdsAsync(store)).Contains("answered"), "the journalled row was not written once the lock was released");
        await WaitUntilAsync(() => Task.FromResult(ReadShared(journal.Path).Length == 0), "the journal was not emptied once its rows were written");
        await writer.StopAsync(CancellationToken.None);
        Assert.Equal(0, queue.Dropped);
    }

    [Fact]
    public async Task Rows_a_killed_ullmd_left_in_the_journal_are_written_at_start_once_each_and_a_torn_line_is_skipped()
    {
        var store = new AuditStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));
        await store.InsertAsync([Row("already-written")], CancellationToken.None);
        var journalPath = dir.File("audit.journal");
        // As a killed ullmd leaves them: a set-aside file, and the current one, whose last line was cut off.
        using (var killed = new AuditJournal(journalPath))
        {
            killed.Open();
            Assert.True(killed.TryAppend(Row("already-written")));
            Assert.True(killed.TryAppend(Row("only-in-journal")));
        }

        using (var setAside = new AuditJournal(journalPath + ".1"))
        {
            setAside.Open();
            Assert.True(setAside.TryAppend(Row("set-aside")));
        }

        await File.AppendAllTextAsync(journalPath, "{\"request_id\":\"to");

        using var journal = new AuditJournal(journalPath);
        using var writer = new AuditWriter(queue, store, TimeProvider.System, NullLogger<AuditWriter>.Instance, journal);
        await writer.StartAsync(CancellationToken.None);

        Assert.Equal(["already-written", "only-in-journal", "set-aside"], (await IdsAsync(store)).Order(StringComparer.Ordinal));
        Assert.Equal("", ReadShared(journalPath));
        Assert.False(File.Exists(journalPath + ".1"));
        Assert.True(queue.Journalled);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void A_journal_grown_past_its_size_under_steady_load_is_set_aside_and_deleted_once_its_rows_are_written()
    {
        using var journal = new AuditJournal(dir.File("audit.journal"), rotateAt: 1);
        journal.Open();
        queue.UseJournal(journal);
        queue.Enqueue(Row("r1"));
        queue.Enqueue(Row("r2"));

        // One of two rows written: the file is past its size with a row still to write, so it is set aside.
        queue.Dealt(1);
        Assert.Contains("\"r2\"", ReadShared(journal.RotatedPath), StringComparison.Ordinal);
        Assert.Equal("", ReadShared(journal.Path));
        queue.Enqueue(Row("r3"));

        // The set-aside rows are written; the new file, past its size with r3 unwritten, is set aside in its turn.
        queue.Dealt(1);
        Assert.Contains("\"r3\"", ReadShared(journal.RotatedPath), StringComparison.Ordinal);
        Assert.DoesNotContain("\"r2\"", ReadShared(journal.RotatedPath), StringComparison.Ordinal);

        // Everything written: nothing is left in either file.
        queue.Dealt(1);
        Assert.Equal("", ReadShared(journal.Path));
        Assert.False(File.Exists(journal.RotatedPath));
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private async Task<string> MetricsAsync()
    {
        using var text = new MemoryStream();
        await metrics.ExportAsync(text, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    private static async Task<List<string>> IdsAsync(AuditStore store) =>
        [.. (await store.QueryAsync(new AuditQuery(null, null, null, 10), CancellationToken.None)).Select(r => r.RequestId)];

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(20);
        }
    }

    private static AuditRow Row(string id) =>
        new(id, T0, null, "uid:0", "m", "m", ["m"], 200, "ok", 1, 2, false, 3, 4, 0, null);
}
