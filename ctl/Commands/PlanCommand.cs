using System.CommandLine;
using System.Globalization;
using System.Text;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class PlanCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var ctx = LoadOptions.Context();
        var gpu = LoadOptions.Gpu();
        var parallel = LoadOptions.Parallel();
        var cacheType = LoadOptions.CacheType();
        var layers = LoadOptions.Layers();
        var command = new Command("plan", "Dry-run placement of a load, with every memory term (changes nothing)") { name, ctx, layers, gpu, parallel, cacheType };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new PlanLoadRequest
            {
                Name = parse.GetValue(name)!,
                Context = parse.GetValue(ctx),
                GpuLayers = parse.GetValue(layers) ?? "",
                Parallel = parse.GetValue(parallel),
                CacheType = parse.GetValue(cacheType) ?? "",
            };
            if (parse.GetValue(gpu) is { } index)
            {
                request.Gpu = index;
            }

            var plan = await client.PlanLoadAsync(request, cancellationToken: ct);
            Printer.Write(json, plan, () => Render(request.Name, plan));
            return plan.Fits ? CtlErrors.Ok : CtlErrors.Failed;
        });
    }

    public static string Render(string model, PlanLoadResponse plan, int? width = null)
    {
        if (!plan.Fits)
        {
            return $"{model} does not fit: {plan.Refusal}\n";
        }

        var where = plan.Gpus.Count == 0 && plan.Remote.Count == 0
            ? "CPU only"
            : string.Join(" + ", plan.Gpus.Select(g => $"GPU{g}").Concat(plan.Remote.Select(r => $"rpc:{r.Worker}/{r.Device} ({r.Address})")));
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{model}: {where}, {plan.GpuLayers}/{plan.TotalLayers + 1} layers on GPU (incl. output), {plan.Parallel} slot(s) × n_ctx {plan.Context}\n");
        foreach (var step in plan.Steps)
        {
            text.Append("step: ").Append(step).Append('\n');
        }

        if (plan.TensorSplit.Count > 0)
        {
            text.Append("tensor split ").Append(string.Join(", ", plan.TensorSplit.Select(f => f.ToString("0.###", CultureInfo.InvariantCulture)))).Append('\n');
        }

        text.Append(CultureInfo.InvariantCulture, $"GPU {Printer.Bytes(plan.GpuBytes)}, host {Printer.Bytes(plan.HostBytes)}\n");
        foreach (var r in plan.Remote)
        {
            text.Append(CultureInfo.InvariantCulture, $"rpc:{r.Worker}/{r.Device}: {r.Layers} layers, {Printer.Bytes(r.Bytes)} of {Printer.Bytes(r.CapacityBytes)} it may fill ({Printer.Bytes(r.FreeBytes)} free)\n");
        }

        text.Append('\n');
        var terms = new Table("WHERE", "TERM", "BYTES", "SIZE", "HOW");
        foreach (var t in plan.Terms)
        {
            terms.Add(t.Where, t.Name, t.Bytes, Printer.Bytes(t.Bytes), t.Formula);
        }

        text.Append(terms.Render(width));
        text.Append('\n').Append(plan.Evictions.Count == 0 ? "evicts nothing\n" : "evicts " + string.Join(", ", plan.Evictions.Select(e => $"{e.Model} (frees {Printer.Bytes(e.FreesBytes)}; {e.Reason})")) + "\n");
        text.Append("backend args: ").Append(string.Join(' ', plan.BackendArgs)).Append('\n');
        return text.ToString();
    }
}
