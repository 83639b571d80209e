using System.CommandLine;
using System.Text;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class ModelsCommand
{
    public static Command CreateList()
    {
        var loaded = new Option<bool>("--loaded") { Description = "Only models with a live instance" };
        // The daemon judges the name against its one table, which also knows the generic backends of the config in force.
        var backend = new Option<string?>("--backend") { Description = "Only models of this backend (llamacpp, ollama, vllm, or a generic backend's name)" };
        backend.CompletionSources.Add("llamacpp", "ollama", "vllm");
        var command = new Command("models", "Configured models with their profile and state") { loaded, backend };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var response = await client.ListModelsAsync(
                new ListModelsRequest { LoadedOnly = parse.GetValue(loaded), Backend = parse.GetValue(backend) ?? "" }, cancellationToken: ct);
            Printer.Write(json, response, () =>
            {
                var table = new Table("NAME", "BACKEND", "STATE", "ARCH", "QUANT", "CTX", "LAYERS", "PRIO", "PINNED", "ALIASES");
                foreach (var m in response.Models)
                {
                    table.Add(
                        m.Name,
                        m.Backend,
                        State(m),
                        m.Profile?.Architecture ?? "-",
                        m.Profile?.Quantization ?? "-",
                        m.Context == 0 ? "model" : m.Context,
                        m.GpuLayers,
                        m.Priority,
                        m.Pinned ? "yes" : "no",
                        string.Join(',', m.Aliases));
                }

                return table.Count == 0 ? "no models\n" : table.Render();
            });
            return CtlErrors.Ok;
        });
    }

    public static Command CreateShow()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var show = new Command("show", "One model: config, profile and live state") { name };
        show.WithAction(async (parse, client, json, ct) =>
        {
            var model = await client.GetModelAsync(new GetModelRequest { Name = parse.GetValue(name)! }, cancellationToken: ct);
            Printer.Write(json, model, () => Render(model));
            return CtlErrors.Ok;
        });
        return new Command("model", "Inspect one model") { show };
    }

    /// <summary>The instance's state; a model held back without a ready instance shows its hold instead.</summary>
    private static string State(Model m) =>
        m.Hold is { } hold && m.Instance?.State != InstanceState.Ready ? (hold.Kind == "backoff" ? "backing off" : "held")
        : m.Instance is null ? "unloaded"
        : StateName(m.Instance.State);

    public static string StateName(InstanceState state) =>
        state == InstanceState.Unspecified ? "-" : state.ToString().ToLowerInvariant();

    private static string Render(Model m)
    {
        var text = new StringBuilder();
        text.Append($"name        {m.Name}\n");
        text.Append($"backend     {m.Backend}\n");
        text.Append($"source      {m.Source}\n");
        if (m.RemoteSource.Length > 0)
        {
            text.Append($"remote      {m.RemoteSource} ({(m.Downloaded ? "downloaded" : "not downloaded yet: the first load or ullmctl pull fetches it")})\n");
        }

        text.Append($"aliases     {(m.Aliases.Count == 0 ? "-" : string.Join(", ", m.Aliases))}\n");
        text.Append($"context     {(m.Context == 0 ? "the model's own" : m.Context.ToString(System.Globalization.CultureInfo.InvariantCulture))}\n");
        text.Append($"gpu layers  {m.GpuLayers}\n");
        text.Append($"ttl         {(m.TtlSeconds == 0 ? "never unloads when idle" : $"{m.TtlSeconds}s")}\n");
        text.Append($"priority    {m.Priority}{(m.Pinned ? ", pinned" : "")}\n");
        if (m.Group.Length > 0)
        {
            text.Append($"group       {m.Group} (exclusive: loading it stops the other members)\n");
        }

        if (m.Profile is { } p)
        {
            text.Append($"profile     {p.Architecture}, {p.ParameterCount:N0} parameters, {p.Quantization}, {p.LayerCount} layers, ctx {p.ContextLength}, {Printer.Bytes(p.FileBytes)}\n");
        }
        else if (m.ProfileError.Length > 0)
        {
            text.Append($"profile     cannot be read: {m.ProfileError}\n");
        }
        else
        {
            text.Append("profile     not scanned\n");
        }

        text.Append(m.Instance is { } i
            ? $"state       {StateName(i.State)} since {Printer.Time(i.StateSince)} as {i.Unit}\n"
            : "state       unloaded\n");
        if (m.Instance is { Parallel: > 0 } loaded)
        {
            text.Append($"serving     {loaded.Parallel} slot(s) × ctx {loaded.Context}, KV {loaded.CacheType}\n");
        }

        if (m.Instance is { Overrides.Length: > 0 } overridden)
        {
            text.Append($"overrides   {overridden.Overrides} (this instance only)\n");
        }
        if (m.Hold is { } hold)
        {
            text.Append($"held        {StatusCommand.Describe(hold)}\n");
        }

        return text.ToString();
    }
}
