using UnifiedLlm.Tests.Gpu;

namespace UnifiedLlm.Tests.Ctl;

[Collection(FakeNvmlTests.Name)]
public sealed class SmokeTests(FakeNvmlBuild nvml)
{
    [Fact]
    public async Task Print()
    {
        await using var host = await CtlHost.StartAsync(nvml);
        foreach (var args in new[] { new[] { "gpus" }, ["plan", "tiny"], ["plan", "tiny", "--gpu", "1", "--layers", "1"], ["scan"], ["models"], ["model", "show", "tiny"], ["status"], ["logs", "tiny"], ["load", "tiny"], ["unload", "tiny"], ["switch", "tiny", "small"], ["gpus", "--json"], ["plan", "tiny", "--json"] })
        {
            var r = await host.CtlAsync(args);
            TestContext.Current.SendDiagnosticMessage($"=== {string.Join(' ', args)}\n{r}");
            Console.WriteLine($"=== {string.Join(' ', args)}\n{r}");
        }
    }
}
