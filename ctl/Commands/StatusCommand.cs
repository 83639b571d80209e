using System.CommandLine;
using System.Text;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class StatusCommand
{
    public static Command Create() =>
        new Command("status", "Daemon version, uptime, config, listeners, GPUs, loaded models").WithAction(async (_, client, json, ct) =>
        {
            var status = await client.StatusAsync(new StatusRequest(), cancellationToken: ct);
            Printer.Write(json, status, () => Render(status));
            return CtlErrors.Ok;
        });

    public static string Render(StatusResponse s)
    {
        var text = new StringBuilder();
        text.Append($"ullmd {s.Version}, up {Printer.Duration(s.UptimeMs)} (since {Printer.Time(s.StartedAt)})\n");
        text.Append($"config      {s.ConfigPath} (loaded {Printer.Time(s.ConfigLoadedAt)})\n");
        text.Append($"database    {s.DatabasePath} (schema v{s.DatabaseSchemaVersion})\n");
        if (s.Supervisor.Length > 0)
        {
            text.Append($"supervisor  {s.Supervisor}\n");
        }

        text.Append($"models      {s.ConfiguredModels} configured, {s.LoadedModels} loaded\n");
        text.Append($"providers   {s.ConfiguredProviders} configured\n");
        text.Append($"api keys    {s.ActiveApiKeys} active\n");
        text.Append($"requests    {s.InFlightRequests} in flight, {s.QueuedRequests} queued\n");
        text.Append(s.CpuModeReason.Length > 0 ? $"gpus        none, CPU mode: {s.CpuModeReason}\n" : $"gpus        {s.Gpus.Count}\n");

        text.Append("\nlisteners\n");
        var listeners = new Table("NAME", "ADDRESS", "MODE", "GROUP");
        foreach (var l in s.Listeners)
        {
            listeners.Add(l.Name, l.Address, l.Mode, l.Group);
        }

        text.Append(listeners.Render());
        if (s.Gpus.Count > 0)
        {
            text.Append("\ngpus\n");
            var gpus = new Table("GPU", "NAME", "USED", "FREE", "TOTAL");
            foreach (var g in s.Gpus)
            {
                gpus.Add(g.Index, g.Name, Printer.Bytes(g.UsedBytes), Printer.Bytes(g.FreeBytes), Printer.Bytes(g.TotalBytes));
            }

            text.Append(gpus.Render());
        }
        if (s.Instances.Count > 0)
        {
            text.Append("\nloaded\n");
            var instances = new Table("MODEL", "STATE", "UNIT", "GPUS", "CTX", "SLOTS", "IN-FLIGHT", "OVERRIDES");
            foreach (var i in s.Instances)
            {
                instances.Add(
                    i.Model, ModelsCommand.StateName(i.State), i.Unit, string.Join(',', i.Gpus), i.Context, i.Parallel, i.InFlight, i.Overrides.Length == 0 ? "-" : i.Overrides);
            }

            text.Append(instances.Render());
        }

        if (s.Holds.Count > 0)
        {
            text.Append("\nheld back\n");
            var holds = new Table("MODEL", "HOLD");
            foreach (var h in s.Holds)
            {
                holds.Add(h.Model, Describe(h));
            }

            text.Append(holds.Render());
        }

        if (s.Breakers.Count > 0)
        {
            text.Append("\nbreakers\n");
            var breakers = new Table("TARGET", "STATE", "SINCE", "LAST ERROR");
            foreach (var b in s.Breakers)
            {
                breakers.Add(b.Target, b.State, Printer.Time(b.ChangedAt), b.LastError.Length == 0 ? "-" : b.LastError);
            }

            text.Append(breakers.Render());
        }

        return text.ToString();
    }

    /// <summary>"backing off until 14:02:07 after 3 failures: REASON" (local time), or a crash loop's reason.</summary>
    public static string Describe(ModelHold hold) => hold.Kind == "backoff"
        ? $"backing off until {hold.Until?.ToDateTimeOffset().ToLocalTime().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) ?? "-"} after {hold.Failures} failures: {hold.Reason}"
        : $"held: {hold.Reason}";
}
