using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>A PropertiesChanged signal for a unit: the interface and the properties that changed (variants unwrapped), with typed shortcuts for the state ones.</summary>
internal sealed record UnitStateChanged(string UnitPath, string Interface, IReadOnlyDictionary<string, DBusValue> Changed)
{
    /// <summary>The signal's serial in its sender's sequence (see <see cref="UnitStatus.ReplySerial"/>).</summary>
    public uint Serial { get; init; }

    public string? ActiveState => StringProperty("ActiveState");

    public string? SubState => StringProperty("SubState");

    public string? Result => StringProperty("Result");

    public static UnitStateChanged FromSignal(DBusMessage signal) =>
        new(signal.Path!, signal.Argument(0).AsString(), signal.Argument(1).AsStringDictionary().ToDictionary(p => p.Key, p => p.Value.AsVariant()))
        {
            Serial = signal.Serial,
        };

    private string? StringProperty(string name) => Changed.TryGetValue(name, out var value) ? value.AsString() : null;
}
