using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using static UnifiedLlm.Tests.Scheduling.SchedulerFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// The lease fast path: on an open instance a lease is taken and given back with one compare-and-swap, never through the
/// scheduler's loop; the loop opens and closes instances and hears of the last lease given back on a closed one. The
/// first tests race the word itself on real threads; the others race requesters against unloads, TTL expiries and
/// switches on a scheduler (<see cref="SchedulerFixture"/>).
/// </summary>
public sealed class LeaseFastPathTests
{
    private const int Rounds = 300;

    [Fact]
    public void A_release_racing_the_close_tells_the_loop_exactly_once_that_the_instance_is_drained()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var instance = OpenInstance();
            var held = 1 + (round % 4);
            for (var i = 0; i < held; i++)
            {
                Assert.True(instance.TryAcquire());
            }

            var ends = new ConcurrentBag<LeaseEnd>();
            var closedWith = -1;
            Parallel.Invoke(
                [.. Enumerable.Range(0, held).Select(_ => (Action)(() => ends.Add(instance.Release()))), () => closedWith = instance.Close()]);

            // The loop learns of the drain once: from the close (nothing held then) or from the last release after it.
            var told = (closedWith == 0 ? 1 : 0) + ends.Count(e => e == LeaseEnd.IdleClosed);
            Assert.True(told == 1, $"round {round}: {held} lease(s), close saw {closedWith}, ends [{string.Join(", ", ends)}]");
            Assert.Equal(0, instance.Leases);
            Assert.False(instance.TryAcquire());
        }
    }

    [Fact]
    public void An_acquire_racing_the_close_is_counted_before_it_or_refused_and_every_counted_lease_is_drained()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var instance = OpenInstance();
            var granted = 0;
            var closedWith = -1;
            Parallel.Invoke(
                [.. Enumerable.Range(0, 3).Select(_ => (Action)(() =>
                {
                    if (instance.TryAcquire())
                    {
                        Interlocked.Increment(ref granted);
                    }
                })), () => closedWith = instance.Close()]);

            // An acquire that lost the race to the close was refused; one that won is in the count the close saw.
            Assert.Equal(granted, closedWith);
            Assert.Equal(granted, instance.Leases);
            var told = closedWith == 0 ? 1 : 0;
            for (var i = 0; i < granted; i++)
            {
                told += instance.Release() == LeaseEnd.IdleClosed ? 1 : 0;
            }

            Assert.Equal(1, told);
        }
    }

    [Fact]
    public void The_ttl_closes_only_an_instance_with_no_lease_and_the_idle_signal_is_never_missed()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var instance = OpenInstance();
            Assert.True(instance.TryAcquire());
            Assert.False(instance.TryCloseIdle());
            Task idle = Task.CompletedTask;
            Parallel.Invoke(() => idle = instance.WhenIdle(), () => Assert.Equal(LeaseEnd.IdleOpen, instance.Release()));

            Assert.True(idle.IsCompleted, $"round {round}: the release racing the swap's wait did not complete it");
            Assert.True(instance.TryCloseIdle());
            Assert.False(instance.IsOpen);
            Assert.False(instance.TryAcquire());
        }
    }

    [Fact]
    public async Task A_lease_on_a_ready_instance_is_taken_and_given_back_without_waiting_for_the_loop()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a"));
        await fx.Scheduler.LoadedAsync("a", ct);

        // Through the loop, an answer always comes later, from its thread; the fast path answers on the caller's.
        var acquire = fx.Scheduler.AcquireAsync("a", ct).AsTask();
        Assert.True(acquire.IsCompletedSuccessfully);
        var lease = Assert.IsType<ModelLease>((await acquire).Value);
        Assert.Equal(1, Assert.Single(fx.Scheduler.Instances()).Leases);
        var release = lease.DisposeAsync().AsTask();
        Assert.True(release.IsCompletedSuccessfully);
        await release;
        Assert.Equal(0, Assert.Single(fx.Scheduler.Instances()).Leases);
    }

    [Fact]
    public async Task Requesters_racing_an_unload_hold_no_lease_on_the_instance_when_it_is_stopped()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a"));
        await fx.Scheduler.LoadedAsync("a", ct);
        var live = new ConcurrentDictionary<string, int>();
        var stoppedWhileLeased = new ConcurrentBag<string>();
        fx.Driver.OnStop = backend =>
        {
            if (live.GetValueOrDefault(backend.Process.UnitName) != 0)
            {
                stoppedWhileLeased.Add(backend.Process.UnitName);
            }

            return Task.CompletedTask;
        };
        using var stop = new CancellationTokenSource();
        var requesters = Enumerable.Range(0, 8).Select(_ => Task.Run(
            async () =>
            {
                var served = 0;
                while (!stop.IsCancellationRequested)
                {
                    var lease = await fx.Scheduler.LeaseAsync("a", ct);
                    var unit = lease.BaseAddress.AbsolutePath.Trim('/');
                    live.AddOrUpdate(unit, 1, (_, n) => n + 1);
                    await Task.Yield();
                    live.AddOrUpdate(unit, 0, (_, n) => n - 1);
                    await lease.DisposeAsync();
                    served++;
                }

                return served;
            },
            ct)).ToList();

        for (var unload = 0; unload < 5; unload++)
        {
            await Task.Delay(20, ct);

            // Reloaded by the requesters that came after the last unload: only this test unloads it.
            await fx.Scheduler.LoadedAsync("a", ct);
            Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));
        }

        await stop.CancelAsync();
        var served = await Task.WhenAll(requesters);

        Assert.Empty(stoppedWhileLeased);
        Assert.All(served, n => Assert.True(n > 0));
        Assert.Equal(5, fx.Driver.Stops.Count);
        Assert.Equal(InstanceState.Ready, Assert.Single(fx.Scheduler.Instances()).State);
        Assert.Equal(0, Assert.Single(fx.Scheduler.Instances()).Leases);
    }

    [Fact]
    public async Task A_lease_held_across_several_ttls_keeps_the_instance_which_unloads_one_ttl_after_its_release()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a", ttlSeconds: 60) + Model("b"));
        var lease = await fx.Scheduler.LeaseAsync("a", ct);
        for (var step = 0; step < 5; step++)
        {
            fx.Time.Advance(TimeSpan.FromSeconds(60));
            await LoopBarrierAsync(fx, ct);
        }

        Assert.Empty(fx.Driver.Stops);
        await lease.DisposeAsync();
        fx.Time.Advance(TimeSpan.FromSeconds(59));
        await LoopBarrierAsync(fx, ct);
        Assert.Empty(fx.Driver.Stops);

        var stopped = fx.NextEventAsync("unload", ct, "a: stopped");
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        await stopped;
        Assert.Single(fx.Driver.Stops);
    }

    [Fact]
    public async Task A_switch_closes_the_fast_path_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a") + Model("b"));
        var held = await fx.Scheduler.LeaseAsync("a", ct);

        // The switch waits for the lease held to drain; from its decision on, no request leases a.
        var switching = fx.Scheduler.SwitchAsync("a", "b", ct);
        await WaitUntilAsync(() => fx.Scheduler.Instances().Single(i => i.Model == "a").State == InstanceState.Draining, ct);
        Assert.Equal(LeaseFailureKind.SwitchedOut, (await fx.Scheduler.RefusedAsync("a", ct)).Kind);
        await held.DisposeAsync();
        Assert.Equal("b", (await switching).Value!.Model);
        Assert.Equal(["a"], fx.Driver.Stops.Select(u => u.Split('-')[1]));
    }

    /// <summary>
    /// Returns once the loop has handled what was posted to it before (a timer's event, posted as the fake clock
    /// advanced): an unload of b, never loaded, is answered by the loop and changes nothing.
    /// </summary>
    private static async Task LoopBarrierAsync(SchedulerFixture fx, CancellationToken cancellationToken) =>
        Assert.False(await fx.Scheduler.UnloadedAsync("b", cancellationToken));

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (!condition())
        {
            await Task.Delay(5, cancellationToken);
        }
    }

    private static ModelInstance OpenInstance()
    {
        var model = new ModelConfig("a", BackendKind.LlamaCpp, "/models/a.gguf", [], 256, null, TimeSpan.Zero, 0, false, []);
        var instance = new ModelInstance("i", model, "ullm-a-i.service", DateTimeOffset.UnixEpoch);
        instance.Open();
        return instance;
    }
}
