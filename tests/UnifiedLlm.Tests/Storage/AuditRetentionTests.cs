using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Storage;

public sealed class AuditRetentionTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Rows_past_the_retention_are_pruned_at_start_and_every_hour()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
        var audit = new AuditStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));
        using var config = new ConfigHolder(ConfigLoader.Parse("[audit]\nretention_days = 1\n", "c.toml"), new EventHub(), time);
        await audit.InsertAsync([Row("two-days-old", time.GetUtcNow().AddDays(-2)), Row("fresh", time.GetUtcNow().AddMinutes(-30))], CancellationToken.None);
        using var retention = new AuditRetention(audit, config, time, NullLogger<AuditRetention>.Instance);

        await retention.StartAsync(CancellationToken.None);
        await WaitUntilAsync(audit, ["fresh"], "the prune at start did not delete the two-day-old row");

        // A day later the fresh row is past the retention too; the next hourly round deletes it.
        time.Advance(TimeSpan.FromDays(1));
        await WaitUntilAsync(audit, [], "the hourly prune did not run after the clock moved a day");

        await retention.StopAsync(CancellationToken.None);
    }

    private static async Task WaitUntilAsync(AuditStore audit, List<string> expected, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(await IdsAsync(audit)).SequenceEqual(expected))
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(20);
        }
    }

    private static async Task<List<string>> IdsAsync(AuditStore audit) =>
        [.. (await audit.QueryAsync(new AuditQuery(null, null, null, 10), CancellationToken.None)).Select(r => r.RequestId)];

    private static AuditRow Row(string id, DateTimeOffset at) =>
        new(id, at, null, "uid:0", "m", "m", [], 200, "ok", 1, 1, false, 1, 1, 0, null);
}
