namespace UnifiedLlm.Daemon.Systemd;

/// <summary>A running ullm-* unit found on the host, with the model it serves (from its ULLM_MODEL journal field).</summary>
internal sealed record BackendUnit(string UnitName, string? Model, UnitStatus Status, string? Owner = null);
