using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// The scheduler's answers for tests that expect one outcome: the value, or a test failure that names the refusal;
/// <see cref="RefusedAsync"/> the other way round.
/// </summary>
internal static class SchedulerCalls
{
    public static async ValueTask<ModelLease> LeaseAsync(this Scheduler scheduler, string model, CancellationToken cancellationToken) =>
        Expect(await scheduler.AcquireAsync(model, cancellationToken));

    public static async Task<LeaseFailure> RefusedAsync(this Scheduler scheduler, string model, CancellationToken cancellationToken)
    {
        var outcome = await scheduler.AcquireAsync(model, cancellationToken);
        if (outcome.Succeeded)
        {
            await outcome.Value.DisposeAsync();
            Assert.Fail($"a lease on {model} was granted, where a refusal was expected");
        }

        return outcome.Failure;
    }

    public static async Task<InstanceInfo> LoadedAsync(this Scheduler scheduler, string model, CancellationToken cancellationToken, LoadOverrides? overrides = null) =>
        Expect(await scheduler.LoadAsync(model, cancellationToken, overrides));

    /// <summary>True when an instance was stopped, false when none was loaded; any other refusal fails the test.</summary>
    public static async Task<bool> UnloadedAsync(this Scheduler scheduler, string model, CancellationToken cancellationToken, bool force = false)
    {
        var outcome = await scheduler.UnloadAsync(model, force, cancellationToken);
        if (outcome.Failure is { Kind: LeaseFailureKind.NotLoaded })
        {
            return false;
        }

        Expect(outcome);
        return true;
    }

    private static T Expect<T>(Outcome<T> outcome)
        where T : class
    {
        if (!outcome.Succeeded)
        {
            Assert.Fail($"the scheduler refused: {outcome.Failure.Kind}: {outcome.Failure.Reason}");
        }

        return outcome.Value;
    }
}
