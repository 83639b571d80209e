using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// A configured model's slot as a request arriving for it finds it: the model it is being switched out for, the hold
/// on its loads on demand (none for an explicit load, which clears it), the overrides of its ready instance (null when
/// none is ready), and its load in flight.
/// </summary>
internal sealed record ArrivingSlot(string Model, string? SwitchedOutFor, LoadHold? Hold, LoadOverrides? Ready, LoadInFlight? Loading);

/// <summary>A model's single load in flight: the requests that wait for it, and the overrides of the explicit load that began it.</summary>
internal sealed record LoadInFlight(int Waiters, LoadOverrides Overrides);

/// <summary>What becomes of a request that reached the loop.</summary>
internal abstract record Arrival
{
    private Arrival()
    {
    }

    /// <summary>Refused, and why.</summary>
    public sealed record Refused(LeaseFailure Failure) : Arrival;

    /// <summary>Leased on the model's ready instance.</summary>
    public sealed record LeasedOnReady : Arrival;

    /// <summary>Waits for the model's load in flight.</summary>
    public sealed record JoinsLoad : Arrival;

    /// <summary>Begins the model's load, with these overrides, and waits for it.</summary>
    public sealed record BeginsLoad(LoadOverrides Overrides) : Arrival;
}

/// <summary>Whether a request for a model is refused, leased at once, or waits for a load (begun if none is in flight).</summary>
internal static class RequestArrival
{
    public static LeaseFailure NotConfigured(string model) => new(LeaseFailureKind.UnknownModel, model, $"model '{model}' is not configured");

    /// <summary>
    /// The request for <paramref name="model"/>, whose slot is <paramref name="slot"/> (null when the model is not
    /// configured), at <paramref name="now"/>; <paramref name="explicitLoad"/> is null for a load on demand.
    /// </summary>
    public static Arrival Decide(string model, ArrivingSlot? slot, LoadOverrides? explicitLoad, SchedulerOptions options, DateTimeOffset now)
    {
        if (slot is null)
        {
            return new Arrival.Refused(NotConfigured(model));
        }

        if (slot.SwitchedOutFor is { } replacement)
        {
            return new Arrival.Refused(new LeaseFailure(
                LeaseFailureKind.SwitchedOut, model, $"{model} is being switched out for {replacement}; it can load again once {replacement} is ready or failed", options.RetryAfter));
        }

        if (slot.Hold is { Kind: LoadHoldKind.CrashLoop } crashLoop)
        {
            return new Arrival.Refused(new LeaseFailure(LeaseFailureKind.HeldAfterCrashes, model, crashLoop.Reason));
        }

        if (slot.Ready is { } readyWith)
        {
            return OverridesConflict(model, "loaded", readyWith, explicitLoad) is { } conflict ? new Arrival.Refused(conflict) : new Arrival.LeasedOnReady();
        }

        if (slot.Hold is { Kind: LoadHoldKind.Backoff, Until: { } until } backoff)
        {
            return new Arrival.Refused(new LeaseFailure(
                LeaseFailureKind.BackingOff, model, $"{model} is {backoff.Describe()}; `ullmctl load {model}` or a config reload retries at once", until - now));
        }

        if (slot.Loading is { } inFlight)
        {
            if (inFlight.Waiters >= options.QueueCapacity)
            {
                return new Arrival.Refused(new LeaseFailure(
                    LeaseFailureKind.QueueFull, model, $"{options.QueueCapacity} requests already wait for {model} to load", options.RetryAfter));
            }

            return OverridesConflict(model, "loading", inFlight.Overrides, explicitLoad) is { } conflict ? new Arrival.Refused(conflict) : new Arrival.JoinsLoad();
        }

        return new Arrival.BeginsLoad(explicitLoad ?? LoadOverrides.None);
    }

    /// <summary>An explicit load with overrides other than those of the instance already there is refused: it would not get them.</summary>
    private static LeaseFailure? OverridesConflict(string model, string state, LoadOverrides current, LoadOverrides? asked)
    {
        if (asked is { IsEmpty: false } && asked != current)
        {
            var with = current.IsEmpty ? "its configured settings" : current.ToString();
            return new LeaseFailure(LeaseFailureKind.Conflict, model, $"{model} is already {state} with {with}; unload it first to load it with {asked}");
        }

        return null;
    }
}
