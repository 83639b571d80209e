using System.Runtime.CompilerServices;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>
/// PropertiesChanged events of one unit, subscribed when this object is created (so nothing between creating it
/// and acting on the unit is missed). Bounded: see <see cref="DBusSignalSubscription"/> for what happens to a slow reader.
/// </summary>
internal sealed class UnitWatch(DBusSignalSubscription subscription) : IAsyncDisposable
{
    public long DroppedCount => subscription.DroppedCount;

    public async IAsyncEnumerable<UnitStateChanged> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var signal in subscription.Signals.ReadAllAsync(cancellationToken))
        {
            yield return UnitStateChanged.FromSignal(signal);
        }
    }

    /// <summary>A change already received, without waiting; false when none is buffered.</summary>
    public bool TryRead(out UnitStateChanged change)
    {
        if (subscription.Signals.TryRead(out var signal))
        {
            change = UnitStateChanged.FromSignal(signal);
            return true;
        }

        change = null!;
        return false;
    }

    public ValueTask DisposeAsync() => subscription.DisposeAsync();
}
