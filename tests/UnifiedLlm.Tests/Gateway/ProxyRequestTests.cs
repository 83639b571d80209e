using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>The upstream body is the client's bytes with only the model, and in streams the usage option, changed.</summary>
public sealed class ProxyRequestTests
{
    private const string Rest = """
        , "messages" : [ {"role":"user","content":"é中\u00e9\n\"q\" 🙂"} ],
          "temperature": 0.10000000000000001, "seed": 12345678901234567890, "n": -0, "big": 1E+400,
          "tools": [], "metadata": {"model": "not this one", "x": null}
        """;

    [Fact]
    public void Only_the_model_value_changes_and_everything_else_stays_byte_for_byte()
    {
        var body = "{ \"model\" : \"client-name\"" + Rest + "}  ";

        var request = Parse(EndpointKind.ChatCompletions, body);

        Assert.Equal("client-name", request.Model);
        Assert.Equal("{ \"model\" : \"upstream/na\\u0022me\"" + Rest + "}  ", Upstream(request, "upstream/na\"me"));
    }

    [Fact]
    public void An_escaped_model_key_is_found_and_the_model_may_come_last()
    {
        var request = Parse(EndpointKind.Completions, """{"prompt":"hi","mod\u0065l":"a"}""");

        Assert.Equal("a", request.Model);
        Assert.Equal("""{"prompt":"hi","mod\u0065l":"b"}""", Upstream(request, "b"));
    }

    [Theory]
    [InlineData("qwen2.5-coder:7b-Q4_K_M")]
    [InlineData("org/Model_v2@rev~1 (test) [x]")]
    [InlineData("a+b<c>&'`")]
    [InlineData("modèle-中")]
    [InlineData("tab\there")]
    [InlineData("")]
    public void The_upstream_model_is_escaped_as_System_Text_Json_escapes_it(string model)
    {
        var request = Parse(EndpointKind.Completions, """{"model":"m","prompt":"p"}""");

        Assert.Equal($"{{\"model\":\"{JsonEncodedText.Encode(model)}\",\"prompt\":\"p\"}}", Upstream(request, model));
    }

    [Theory]
    [InlineData("""{"model":"m","prompt":"p","stream":true}""", """{"model":"u","prompt":"p","stream":true,"stream_options":{"include_usage":true}}""", false)]
    [InlineData("""{"stream":true,"stream_options":null,"model":"m","prompt":"p"}""", """{"stream":true,"stream_options":{"include_usage":true},"model":"u","prompt":"p"}""", false)]
    [InlineData("""{"model":"m","prompt":"p","stream":true,"stream_options":{ }}""", """{"model":"u","prompt":"p","stream":true,"stream_options":{"include_usage":true }}""", false)]
    [InlineData("""{"model":"m","prompt":"p","stream":true,"stream_options":{"continuous_usage_stats":true}}""", """{"model":"u","prompt":"p","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}""", false)]
    [InlineData("""{"model":"m","prompt":"p","stream":true,"stream_options":{"include_usage":false,"x":1}}""", """{"model":"u","prompt":"p","stream":true,"stream_options":{"include_usage":true,"x":1}}""", false)]
    [InlineData("""{"model":"m","prompt":"p","stream":true,"stream_options":{"x":1,"include_usage":true}}""", """{"model":"u","prompt":"p","stream":true,"stream_options":{"x":1,"include_usage":true}}""", true)]
    [InlineData("""{"model":"m","prompt":"p","stream":false,"stream_options":{"include_usage":false}}""", """{"model":"u","prompt":"p","stream":false,"stream_options":{"include_usage":false}}""", false)]
    public void Streams_ask_for_usage_keeping_the_clients_other_stream_options(string body, string expected, bool clientAsked)
    {
        var request = Parse(EndpointKind.Completions, body);

        Assert.Equal(expected, Upstream(request, "u"));
        Assert.Equal(clientAsked, request.IncludeUsage);
    }

    [Fact]
    public void The_prompt_length_is_that_of_the_messages_as_sent()
    {
        const string messages = """[{"role":"user","content":"0123456789"}]""";

        var request = Parse(EndpointKind.ChatCompletions, $$"""{"model":"m","messages":{{messages}}}""");

        Assert.Equal(messages.Length, request.PromptLength);
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("""{"model":"m","prompt":"p"} x""", "not valid JSON")]
    [InlineData("""{"model":"m","prompt":"p",}""", "not valid JSON")]
    [InlineData("""{"model":"m","prompt":"p" /* c */}""", "not valid JSON")]
    [InlineData("""{"model":"m","prompt":"p""", "not valid JSON")]
    [InlineData("\"text\"", "must be a JSON object")]
    [InlineData("""{"model":null,"prompt":"p"}""", "'model': is required")]
    [InlineData("""{"model":"","prompt":"p"}""", "'model': must be a non-empty string")]
    [InlineData("""{"model":"m","prompt":null}""", "'prompt': is required")]
    [InlineData("""{"model":"m","prompt":{}}""", "'prompt': must be a string or an array")]
    [InlineData("""{"model":"m","prompt":"p","stream_options":[]}""", "'stream_options': must be an object")]
    [InlineData("""{"model":"m","prompt":"p","stream_options":{"include_usage":1}}""", "'stream_options.include_usage': must be true or false")]
    public void Bad_bodies_are_400_naming_the_problem(string body, string problem)
    {
        var error = Assert.Throws<GatewayException>(() => Parse(EndpointKind.Completions, body));

        Assert.Equal(400, error.StatusCode);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""[]""", "'messages': must be a non-empty array")]
    [InlineData("""[{"role":null}]""", "'messages': must be a non-empty array")]
    [InlineData("""[{"role":"user"},"x"]""", "'messages': must be a non-empty array")]
    [InlineData("""[{"content":{"role":"user"}}]""", "'messages': must be a non-empty array")]
    public void Messages_need_a_role_each(string messages, string problem)
    {
        var error = Assert.Throws<GatewayException>(() => Parse(EndpointKind.ChatCompletions, $$"""{"model":"m","messages":{{messages}}}"""));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rerank_keeps_its_query_documents_and_options_and_counts_them_as_its_prompt()
    {
        const string body = """{"model":"m","query":"q","documents":["a","b"],"top_n":1}""";

        var request = Parse(EndpointKind.Rerank, body);

        Assert.False(request.Stream);
        Assert.Equal("\"q\"".Length + """["a","b"]""".Length, request.PromptLength);
        Assert.Equal("""{"model":"u","query":"q","documents":["a","b"],"top_n":1}""", Upstream(request, "u"));
    }

    [Theory]
    [InlineData("""{"model":"m","documents":["a"]}""", "'query': is required")]
    [InlineData("""{"model":"m","query":["q"],"documents":["a"]}""", "'query': must be a string")]
    [InlineData("""{"model":"m","query":"q"}""", "'documents': is required")]
    [InlineData("""{"model":"m","query":"q","documents":[ ]}""", "'documents': must be a non-empty array")]
    [InlineData("""{"model":"m","query":"q","documents":"a"}""", "'documents': must be a non-empty array")]
    [InlineData("""{"model":"m","query":"q","documents":["a"],"stream":true}""", "'stream': a rerank does not stream")]
    public void A_bad_rerank_is_400_naming_the_field(string body, string problem)
    {
        var error = Assert.Throws<GatewayException>(() => Parse(EndpointKind.Rerank, body));

        Assert.Equal(400, error.StatusCode);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    private static ProxyRequest Parse(EndpointKind kind, string body) => ProxyRequest.From(kind, Encoding.UTF8.GetBytes(body));

    private static string Upstream(ProxyRequest request, string model) => Encoding.UTF8.GetString(request.ForUpstream(model));
}
