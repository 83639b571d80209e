using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Scheduling;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>Issue #21, items 5, 9 and the last of 21: a reload applies to what is loaded, not only to later loads.</summary>
public sealed class ReloadTests
{
    [Fact]
    public async Task A_reload_that_removes_a_loaded_model_drains_and_stops_its_backend()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a") + SchedulerFixture.Model("b"));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        var lease = await fx.Scheduler.LeaseAsync("b", ct);

        await fx.ReloadAsync(SchedulerFixture.Model("a"), ct);

        // b drains its live lease first, then stops; a stays.
        Assert.Equal(InstanceState.Draining, fx.Scheduler.Instances().Single(i => i.Model == "b").State);
        Assert.Empty(fx.Driver.Stops);
        await lease.DisposeAsync();
        // The backend is stopped first, then the loop records Stopped: wait for the record, not only the stop.
        await WaitUntilAsync(() => fx.Driver.Stops.Count == 1 && fx.Scheduler.Instances().Single(i => i.Model == "b").State == InstanceState.Stopped, ct);
        Assert.Single(fx.Driver.Stops);
        Assert.Equal(InstanceState.Ready, fx.Scheduler.Instances().Single(i => i.Model == "a").State);
    }

    [Fact]
    public async Task Lowering_the_ttl_to_zero_cancels_the_armed_unload()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a", ttlSeconds: 3));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();

        await fx.ReloadAsync(SchedulerFixture.Model("a", ttlSeconds: 0), ct);
        fx.Time.Advance(TimeSpan.FromSeconds(10));

        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(InstanceState.Ready, Assert.Single(fx.Scheduler.Instances()).State);
    }

    [Fact]
    public async Task A_changed_ttl_counts_from_the_last_use_without_waiting_for_a_request()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a", ttlSeconds: 600) + SchedulerFixture.Model("b"));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        fx.Time.Advance(TimeSpan.FromSeconds(20));

        // Lowered below the idle time already passed: unloads at once. Raised: later than the old deadline.
        await fx.ReloadAsync(SchedulerFixture.Model("a", ttlSeconds: 10) + SchedulerFixture.Model("b"), ct);
        fx.Time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitUntilAsync(() => fx.Driver.Stops.Count == 1, ct);

        await (await fx.Scheduler.LeaseAsync("b", ct)).DisposeAsync();
        await fx.ReloadAsync(SchedulerFixture.Model("a", ttlSeconds: 10) + SchedulerFixture.Model("b", ttlSeconds: 30), ct);
        fx.Time.Advance(TimeSpan.FromSeconds(29));
        Assert.Single(fx.Driver.Stops);
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntilAsync(() => fx.Driver.Stops.Count == 2, ct);
    }

    [Fact]
    public async Task Changing_how_a_loaded_model_starts_is_announced_since_its_process_keeps_the_old_arguments()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var events = fx.Events.SubscribeAsync(["config"], timeout.Token).GetAsyncEnumerator(timeout.Token);
        await using (events)
        {
            var waiting = events.MoveNextAsync();
            await fx.ReloadAsync(SchedulerFixture.Model("a").Replace("context = 256", "context = 128", StringComparison.Ordinal), ct);
            while (await waiting && events.Current.Model != "a")
            {
                waiting = events.MoveNextAsync();
            }

            Assert.Contains("keeps the ones it was started with until it is unloaded (ullmctl unload a)", events.Current.Message, StringComparison.Ordinal);
        }

        Assert.Empty(fx.Driver.Stops);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true within 10 s");
            await Task.Delay(10, ct);
        }
    }
}
