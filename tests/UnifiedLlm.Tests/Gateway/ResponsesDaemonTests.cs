using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Stored responses in the real ullmd process: a conversation continued through previous_response_id after a restart.</summary>
public sealed class ResponsesDaemonTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 180_000)]
    public async Task A_conversation_continues_through_previous_response_id_across_a_restart()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cloud = await FakeUpstream.StartAsync();
        var answers = new Queue<string>(["Hi, I am Ada.", "Your name is Bob."]);
        cloud.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion(answers.Dequeue()));
        var paths = DaemonProcess.WriteConfig(dir, $"""
            # The unix socket's callers have no key: they reach providers only with this.
            [security]
            anonymous_providers = true

            [providers.cloud]
            kind = "openai"
            base_url = "{cloud.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x"]
            """);

        string first;
        await using (var daemon = await DaemonProcess.StartAsync(dir, paths))
        {
            using var http = GatewayHost.UnixClient(paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/responses", """{"model":"cloud/gpt-x","input":"My name is Bob.","instructions":"be kind"}"""));
            Assert.True(status == 200, body.ToString());
            first = body.GetProperty("id").GetString()!;
            Assert.Equal(0, await daemon.StopAsync());
        }

        await using (var daemon = await DaemonProcess.StartAsync(dir, paths))
        {
            using var http = GatewayHost.UnixClient(paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/responses", $$"""{"model":"cloud/gpt-x","input":"What is my name?","previous_response_id":"{{first}}"}"""));
            Assert.True(status == 200, body.ToString());
            Assert.Equal("Your name is Bob.", body.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
            Assert.Equal(first, body.GetProperty("previous_response_id").GetString());

            var (getStatus, stored, _) = await Http.SendAsync(http, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{first}"));
            Assert.Equal(200, getStatus);
            Assert.Equal("Hi, I am Ada.", stored.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
        }

        // The second turn went upstream with the first one (without its instructions, as OpenAI does), then the new input.
        var sent = cloud.Requests.Last().Body["messages"]!.ToJsonString();
        Assert.Equal(
            """[{"role":"user","content":"My name is Bob."},{"role":"assistant","content":"Hi, I am Ada."},{"role":"user","content":"What is my name?"}]""", sent);
        Assert.Equal(
            """[{"role":"system","content":"be kind"},{"role":"user","content":"My name is Bob."}]""", cloud.Requests.First().Body["messages"]!.ToJsonString());
    }
}
