using UnifiedLlm.Daemon.Scheduling;
using static UnifiedLlm.Tests.Scheduling.SchedulerFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// Loads that do not compete for memory run at the same time; one that competes waits for the loads in flight
/// (<see cref="LoadAdmission"/>). The fake driver holds every load at its gate, so "at the same time" is shown by both
/// loads reaching the driver before either is ready. The machine is CPU-only: host RAM is the memory they compete for.
/// </summary>
public sealed class ConcurrentLoadTests
{
    [Fact]
    public async Task Two_models_that_fit_together_start_loading_before_either_is_ready()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a") + Model("b"), budgetInModels: 10);
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var a = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        await fx.Driver.StartsReachAsync(2, ct);

        Assert.False(a.IsCompleted || b.IsCompleted);
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name).Order());
        fx.Driver.Gate.SetResult();
        await using var leaseA = await a;
        await using var leaseB = await b;
        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(["a", "b"], fx.Scheduler.ReadyModels().Order());
    }

    [Fact]
    public async Task Leases_on_a_ready_model_come_and_go_while_another_model_is_held_in_its_planning()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a") + Model("b"), budgetInModels: 10);
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        using var planHeld = new ManualResetEventSlim();
        using var planning = new SemaphoreSlim(0);
        fx.OnHostReading = () =>
        {
            planning.Release();
            planHeld.Wait(ct);
        };

        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        try
        {
            await planning.WaitAsync(ct);

            // b's planner is stuck reading the machine. a's leases must not queue behind it (they did behind the old
            // scheduler's lock, which the planner held): a hundred are taken and returned, each within the bound.
            var leases = Task.Run(
                async () =>
                {
                    for (var i = 0; i < 100; i++)
                    {
                        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
                    }
                },
                ct);
            await leases.WaitAsync(TimeSpan.FromSeconds(30), ct);
            Assert.False(b.IsCompleted);
            Assert.Equal(["a"], fx.Driver.Starts.Select(s => s.Model.Name));
            Assert.Equal(0, fx.Scheduler.Instances().Single(i => i.Model == "a").Leases);
        }
        finally
        {
            fx.OnHostReading = null;
            planHeld.Set();
        }

        await using var leaseB = await b;
        Assert.Equal(["a", "b"], fx.Scheduler.ReadyModels().Order());
    }

    [Fact]
    public async Task A_model_that_does_not_fit_beside_a_load_in_flight_waits_for_it_then_evicts_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync("[server]\nmax_swap_wait_seconds = 0\n\n" + Model("a") + Model("b"), budgetInModels: 1.5);
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var a = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        await fx.Driver.Started.Task.WaitAsync(ct);
        using var watch = fx.Scheduler.Progress.Watch("b");

        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        while ((await watch.Steps.ReadAsync(ct)).Stage != LoadStage.Planning)
        {
        }

        // Taken under the scheduler's lock, after the turn that reported Planning has decided.
        Assert.DoesNotContain(fx.Scheduler.Instances(), i => i.Model == "b");
        Assert.Equal(["a"], fx.Driver.Starts.Select(s => s.Model.Name));
        fx.Driver.Gate.SetResult();
        await (await a).DisposeAsync();
        await using var leaseB = await b;

        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["a"], SchedulerPolicyTests.StoppedModels(fx));
        Assert.Equal(["b"], fx.Scheduler.ReadyModels());
    }

    [Fact]
    public async Task Members_of_one_exclusive_group_never_load_at_the_same_time_even_with_room_for_both()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync("[server]\nmax_swap_wait_seconds = 0\n\n" + Model("a", group: "g") + Model("b", group: "g"), budgetInModels: 10);
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var a = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        await fx.Driver.Started.Task.WaitAsync(ct);
        using var watch = fx.Scheduler.Progress.Watch("b");

        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        while ((await watch.Steps.ReadAsync(ct)).Stage != LoadStage.Planning)
        {
        }

        Assert.DoesNotContain(fx.Scheduler.Instances(), i => i.Model == "b");
        fx.Driver.Gate.SetResult();
        await (await a).DisposeAsync();
        await using var leaseB = await b;
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["b"], fx.Scheduler.ReadyModels());
    }
}
