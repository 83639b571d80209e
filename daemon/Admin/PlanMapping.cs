using System.Globalization;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using ModelProfile = UnifiedLlm.Daemon.Models.ModelProfile;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>Planner decisions to <see cref="PlanLoadResponse"/>: every memory term with how it was computed.</summary>
internal static class PlanMapping
{
    /// <summary>
    /// The plan, its evictions after <paramref name="ruleVictims"/> (which rules stop before the planner runs), and what
    /// <paramref name="backend"/>'s driver passes for it: llama-server's flags, vLLM's, or Ollama's request options.
    /// </summary>
    public static PlanLoadResponse ToProto(PlacementDecision decision, ModelProfile profile, IReadOnlyList<RuleVictim> ruleVictims, BackendKind backend)
    {
        if (decision is PlanRefusal refusal)
        {
            return new PlanLoadResponse { Fits = false, Refusal = refusal.Reason, TotalLayers = (uint)profile.LayerCount };
        }

        var plan = (LoadPlan)decision;
        var estimate = plan.Estimate;
        var response = new PlanLoadResponse
        {
            Fits = true,
            GpuLayers = (uint)plan.GpuLayers,
            TotalLayers = (uint)profile.LayerCount,
            Context = (uint)Math.Min(plan.ContextLength, uint.MaxValue),
            GpuBytes = estimate.GpuTotalBytes - plan.Remote.Aggregate(0UL, (sum, r) => sum + r.Bytes),
            HostBytes = estimate.HostTotalBytes,
            Parallel = (uint)plan.Parallel,
        };
        response.Steps.AddRange(plan.Steps);
        response.Gpus.AddRange(plan.GpuIndices.Select(i => (uint)i));
        response.TensorSplit.AddRange(plan.TensorSplit ?? []);
        AddEvictions(response, plan, ruleVictims);
        if (plan.Vllm is { } launch)
        {
            AddVllmTerms(response, plan, launch);
            return response;
        }

        var kvPerToken = KvFormula(profile, estimate);
        for (var i = 0; i < estimate.Gpus.Count; i++)
        {
            var share = estimate.Gpus[i];
            var remote = i >= plan.GpuIndices.Count ? plan.Remote[i - plan.GpuIndices.Count] : null;
            var where = remote?.Label ?? $"gpu{plan.GpuIndices[i]}";
            var layers = share.Layers == 0 ? "no blocks" : $"blocks {share.FirstLayer}-{share.FirstLayer + share.Layers - 1}";
            response.Terms.Add(Term("weights", where, share.WeightBytes, $"tensor bytes of {layers}{(share.HasOutput ? " + output head" : "")}"));
            response.Terms.Add(Term("kv cache", where, share.KvBytes, $"{share.Layers} layers × {kvPerToken}"));
            response.Terms.Add(Term(
                "compute buffer", where, share.ComputeBytes, $"llama.cpp compute graph, {(estimate.FullyOffloaded ? "full" : "partial")} offload, n_ctx {plan.TotalContextLength}"));
            if (remote is null)
            {
                response.Terms.Add(Term("cuda overhead", where, share.OverheadBytes, "CUDA context, cuBLAS workspace and allocator slack (fixed)"));
            }
        }

        // llama.cpp offloads the output head first: only a CPU-only load keeps it on the host.
        var hostLayers = Math.Min(profile.LayerCount + 1 - Math.Min(plan.GpuLayers, profile.LayerCount + 1), profile.LayerCount);
        response.Terms.Add(Term(
            "weights", "host", estimate.HostWeightBytes, $"token embeddings{(hostLayers > 0 ? $" + blocks 0-{hostLayers - 1}" : "")}{(plan.GpuLayers > 0 ? "" : " + output head")}"));
        response.Terms.Add(Term("kv cache", "host", estimate.HostKvBytes, $"{hostLayers} layers × {kvPerToken}"));
        var hostCompute = plan.GpuLayers == 0 ? $"llama.cpp compute graph on the CPU, n_ctx {plan.TotalContextLength}"
            : estimate.FullyOffloaded ? "graph inputs and outputs kept on the host"
            : $"llama.cpp compute graph for the layers left on the CPU, partial offload, n_ctx {plan.TotalContextLength}";
        response.Terms.Add(Term("compute buffer", "host", estimate.HostComputeBytes, hostCompute));
        if (backend == BackendKind.Ollama)
        {
            // Ollama runs llama.cpp, so the terms above hold; what ullmd sends is the load request's options.
            var options = OllamaOptions.For(plan);
            response.BackendArgs.Add($"options.num_gpu {options.NumGpu}");
            response.BackendArgs.Add(string.Create(CultureInfo.InvariantCulture, $"options.num_ctx {options.NumCtx}"));
            return response;
        }

        response.BackendArgs.Add($"--n-gpu-layers {plan.GpuLayers}");
        response.BackendArgs.Add(string.Create(CultureInfo.InvariantCulture, $"--ctx-size {plan.TotalContextLength}"));
        response.BackendArgs.Add(string.Create(CultureInfo.InvariantCulture, $"--parallel {plan.Parallel}"));
        response.BackendArgs.Add($"--cache-type-k {KvCacheType.NameOf(estimate.CacheType.K)}");
        response.BackendArgs.Add($"--cache-type-v {KvCacheType.NameOf(estimate.CacheType.V)}");
        if (plan.Remote.Count > 0)
        {
            var args = LlamaServerArguments.RemoteSplit(plan);
            response.BackendArgs.AddRange(FlagsWithValues(args));
            response.Remote.AddRange(plan.Remote.Select(r => new RemoteDevicePlan
            {
                Worker = r.Device.Worker,
                Address = r.Device.Address,
                Device = (uint)r.Device.Index,
                Layers = (uint)r.Layers,
                Bytes = r.Bytes,
                FreeBytes = r.Device.FreeBytes,
                CapacityBytes = r.Device.CapacityBytes,
            }));
        }
        else if (plan.TensorSplit is { } split)
        {
            response.BackendArgs.Add("--tensor-split " + string.Join(',', split.Select(f => f.ToString("0.###", CultureInfo.InvariantCulture))));
        }

        return response;
    }

    private static void AddEvictions(PlanLoadResponse response, LoadPlan plan, IReadOnlyList<RuleVictim> ruleVictims)
    {
        foreach (var victim in ruleVictims)
        {
            response.Evictions.Add(new Eviction { Model = victim.Model, FreesBytes = Frees(victim.Instance), Reason = victim.Reason });
        }

        foreach (var eviction in plan.Evictions)
        {
            response.Evictions.Add(new Eviction
            {
                Model = eviction.Name,
                FreesBytes = Frees(eviction),
                Reason = $"to make room: priority {eviction.Priority}, last used {eviction.LastUsed:u}",
            });
        }
    }

    /// <summary>
    /// A vLLM engine's claim on each GPU, term by term: vLLM takes utilization × the GPU's total memory and gives what
    /// weights, activations and CUDA graphs leave of it to KV blocks, so the KV term is that rest, at least what
    /// max_num_seqs × max_model_len need.
    /// </summary>
    private static void AddVllmTerms(PlanLoadResponse response, LoadPlan plan, VllmLaunch launch)
    {
        var need = launch.Need;
        response.Parallel = (uint)launch.MaxNumSeqs;
        if (launch.Steps.Length > 0)
        {
            response.Steps.Add(launch.Steps);
        }

        var sharding = launch.TensorParallelSize == 1 ? "" : $", sharded over {launch.TensorParallelSize} GPUs by tensor parallelism";
        for (var i = 0; i < plan.GpuIndices.Count; i++)
        {
            var share = plan.Estimate.Gpus[i];
            var where = $"gpu{plan.GpuIndices[i]}";
            response.Terms.Add(Term("weights", where, share.WeightBytes, $"SafeTensors tensor bytes{sharding}"));
            response.Terms.Add(Term("kv cache", where, share.KvBytes, string.Create(
                CultureInfo.InvariantCulture,
                $"the rest of the claim ({launch.GpuMemoryUtilization:0.00} × GPU total) as KV blocks; {launch.MaxNumSeqs} seqs × max_model_len {launch.MaxModelLen} need {ByteFormat.Format(need.KvBytes)}")));
            response.Terms.Add(Term("activations", where, share.ComputeBytes, "vLLM's profiled activation peak"));
            response.Terms.Add(Term("cuda graphs", where, share.OverheadBytes, "captured CUDA graphs"));
        }

        var arguments = launch.Arguments();
        response.BackendArgs.AddRange(FlagsWithValues(arguments));
        if (launch.Stage is { } stage)
        {
            response.Steps.Add(stage.Describe());
            response.BackendArgs.Add(string.Create(CultureInfo.InvariantCulture, $"--pipeline-parallel-size {stage.Stages}"));
        }
    }

    /// <summary>An argv of flag, value pairs as one "flag value" line each, as <c>ullmctl plan</c> prints backend args.</summary>
    private static IEnumerable<string> FlagsWithValues(IReadOnlyList<string> arguments) =>
        Enumerable.Range(0, arguments.Count / 2).Select(i => $"{arguments[2 * i]} {arguments[(2 * i) + 1]}");

    private static ulong Frees(LoadedInstance instance) => instance.GpuBytes.Values.Aggregate(0UL, (sum, b) => sum + b) + instance.HostBytes;

    private static string KvFormula(ModelProfile profile, LlamaCppMemoryEstimate estimate)
    {
        var window = profile.SlidingWindow is { } w ? $", sliding-window layers capped at {w} + batch cells" : "";
        var slots = estimate.Slots == 1 ? "" : $"{estimate.Slots} slots × ";
        return $"{slots}n_ctx {estimate.ContextLength} (padded to 256) × n_head_kv {profile.MaxKvHeadCount} × (k {profile.KeyLength} × {KvCacheType.NameOf(estimate.CacheType.K)} "
            + $"+ v {profile.ValueLength} × {KvCacheType.NameOf(estimate.CacheType.V)}){window}";
    }

    private static MemoryTerm Term(string name, string where, ulong bytes, string formula) =>
        new() { Name = name, Where = where, Bytes = bytes, Formula = formula };
}
