namespace UnifiedLlm.Daemon.Gpu;

/// <summary>A unit and its systemd ControlGroup property, e.g. ("ullm-x-1.service", "/ullm.slice/ullm-x-1.service").</summary>
internal sealed record UnitControlGroup(string Unit, string ControlGroup);
