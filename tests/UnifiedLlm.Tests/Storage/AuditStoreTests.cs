using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Storage;

public sealed class AuditStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory dir = new();
    private AuditStore audit = null!;

    public async ValueTask InitializeAsync() =>
        audit = new AuditStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));

    public ValueTask DisposeAsync()
    {
        dir.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Rows_round_trip_and_are_filtered_by_time_model_and_key_newest_first()
    {
        await audit.InsertAsync(
            [
                Row("r1", T0, "tiny", "k1"),
                Row("r2", T0.AddMinutes(1), "tiny", "k2") with { FallbackPath = ["tiny", "openai/gpt-4o-mini"], Error = "upstream 503", TtftMs = null },
                Row("r3", T0.AddMinutes(2), "big", "k1"),
            ],
            CancellationToken.None);

        var all = await audit.QueryAsync(new AuditQuery(null, null, null, 100), CancellationToken.None);
        Assert.Equal(["r3", "r2", "r1"], all.Select(r => r.RequestId));
        Assert.Equal(Row("r2", T0.AddMinutes(1), "tiny", "k2") with { FallbackPath = all[1].FallbackPath, Error = "upstream 503", TtftMs = null }, all[1]);
        Assert.Equal(["tiny", "openai/gpt-4o-mini"], all[1].FallbackPath);
        Assert.Equal(["r2", "r1"], (await audit.QueryAsync(new AuditQuery(null, "tiny", null, 100), CancellationToken.None)).Select(r => r.RequestId));
        Assert.Equal(["r3", "r1"], (await audit.QueryAsync(new AuditQuery(null, null, "k1", 100), CancellationToken.None)).Select(r => r.RequestId));
        Assert.Equal(["r3", "r2"], (await audit.QueryAsync(new AuditQuery(T0.AddSeconds(30), null, null, 100), CancellationToken.None)).Select(r => r.RequestId));
        Assert.Equal(["r3"], (await audit.QueryAsync(new AuditQuery(null, null, null, 1), CancellationToken.None)).Select(r => r.RequestId));
    }

    [Fact]
    public async Task Text_round_trips_exactly_empty_non_ascii_and_longer_than_the_encoding_buffer()
    {
        var longError = string.Concat(Enumerable.Repeat("upstream said: ünïcödé 🦙 ", 200));
        var row = Row("r-ü", T0, "模型", "k") with { Client = "", FallbackPath = ["模型", "cloud/m"], Error = longError };

        await audit.InsertAsync([row, Row("r2", T0, "m", null)], CancellationToken.None);

        var read = (await audit.QueryAsync(new AuditQuery(null, "模型", null, 10), CancellationToken.None)).Single();
        Assert.Equal("r-ü", read.RequestId);
        Assert.Equal("", read.Client);
        Assert.Equal(["模型", "cloud/m"], read.FallbackPath);
        Assert.Equal(longError, read.Error);
    }

    [Fact]
    public async Task Retention_deletes_only_older_rows()
    {
        await audit.InsertAsync([Row("old", T0.AddDays(-31), "m", null), Row("new", T0, "m", null)], CancellationToken.None);

        var deleted = await audit.DeleteOlderThanAsync(T0.AddDays(-30), CancellationToken.None);

        Assert.Equal(1, deleted);
        Assert.Equal(["new"], (await audit.QueryAsync(new AuditQuery(null, null, null, 10), CancellationToken.None)).Select(r => r.RequestId));
    }

    [Fact]
    public async Task A_row_the_table_refuses_fails_the_whole_batch_with_sqlites_reason()
    {
        var refused = Row("r2", T0, "m", null) with { Client = null! };

        var error = await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() =>
            audit.InsertAsync([Row("r1", T0, "m", null), refused, Row("r3", T0, "m", null)], CancellationToken.None));

        Assert.Contains("NOT NULL constraint failed: audit_log.client", error.Message, StringComparison.Ordinal);
        Assert.Empty(await audit.QueryAsync(new AuditQuery(null, null, null, 10), CancellationToken.None));
        await audit.InsertAsync([Row("r4", T0, "m", null)], CancellationToken.None);
        Assert.Equal(["r4"], (await audit.QueryAsync(new AuditQuery(null, null, null, 10), CancellationToken.None)).Select(r => r.RequestId));
    }

    private static AuditRow Row(string id, DateTimeOffset at, string model, string? key) =>
        new(id, at, key, "uid:0", model, model, [], 200, "ok", 12, 34, false, 15, 120, 0.0001, null);
}
