using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Config;

public class ConfigLoaderTests
{
    private const string PinnedA = "[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\npinned = true\n";
    private const string PinnedB = "[models.b]\nbackend = \"llamacpp\"\nsource = \"/b.gguf\"\npinned = true\n";

    [Fact]
    public void Log_request_bodies_true_is_refused_as_unsupported_and_false_still_loads()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("[audit]\nretention_days = 7\nlog_request_bodies = true\n", "c.toml"));

        Assert.Equal(
            "c.toml:3:1: audit.log_request_bodies: storing request and response bodies is not supported by this ullmd; remove the key or set it to false",
            Assert.Single(e.Errors).ToString());
        Assert.Equal(7, ConfigLoader.Parse("[audit]\nretention_days = 7\nlog_request_bodies = false\n", "c.toml").Audit.RetentionDays);
    }

    [Fact]
    public void The_shipped_example_is_valid_and_binds_every_section()
    {
        var config = ConfigLoader.Parse(File.ReadAllText(RepoPaths.InRepo("packaging", "config.example.toml")), "config.example.toml");

        Assert.Equal("/var/lib/unified-llm/ullm.db", config.Server.DatabasePath);
        Assert.Equal("127.0.0.1:9000", config.Server.TcpListen);
        Assert.Equal(Convert.ToInt32("666", 8), (int)config.Server.OpenAiSocketMode);
        Assert.Equal(50L << 20, config.Server.MaxAudioBodyBytes);
        var tiny = config.Models["tiny"];
        Assert.Equal(BackendKind.LlamaCpp, tiny.Backend);
        Assert.Equal(["tiny-chat"], tiny.Aliases);
        Assert.Null(tiny.GpuLayers);
        Assert.Equal(TimeSpan.FromMinutes(10), tiny.Ttl);
        Assert.Equal("chat", tiny.Group);
        Assert.Equal(new CacheConfig(TimeSpan.FromMinutes(10), 1024, 64L << 20, false, true, false, false), tiny.Cache);
        Assert.Equal("chat", config.Models["tiny-long"].Group);
        Assert.Equal(0, config.Backends.LlamaCpp.MaxLoaded);
        var rerank = config.Models["tiny-rerank"];
        Assert.Equal(("reranker", new DeclaredFootprint(300UL << 20, 0, 0)), (rerank.BackendKey, rerank.Declared));
        Assert.Equal(ServedEndpoints.Chat | ServedEndpoints.Rerank, config.Backends.For(rerank).Generic!.Endpoints);
        var openai = config.Providers["openai"];
        Assert.Equal(ProviderKind.OpenAi, openai.Kind);
        Assert.Equal(new ApiKeySource(ApiKeySourceKind.Environment, "OPENAI_API_KEY"), openai.ApiKey);
        Assert.Equal(0.60, openai.CostPerMillionOutputTokens);
        Assert.Equal(["openai/gpt-4o-mini"], config.Router.Fallback["tiny"]);
        Assert.Equal(RouteStrategy.LocalFirst, config.Routes["smart"].Strategy);
        Assert.False(config.Backends.Ollama.Enabled);
        Assert.Equal(new UpstreamTimeouts(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(120)), config.Router.Timeouts);
        Assert.Equal(new BreakerConfig(0.5, 5, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)), config.Router.Breaker);
        Assert.Equal(10_000, config.Audit.QueueCapacity);
    }

    [Fact]
    public void Router_timeouts_and_breaker_settings_bind_next_to_the_fallback_table()
    {
        var config = ConfigLoader.Parse(
            "[router]\nconnect_timeout_seconds = 0.5\nfirst_token_timeout_seconds = 7\nidle_timeout_seconds = 3\nbreaker_failure_ratio = 0.25\n"
            + "breaker_minimum_requests = 10\nbreaker_window_seconds = 60\nbreaker_break_seconds = 5\n[audit]\nqueue_capacity = 50\n",
            "router.toml");

        Assert.Equal(new UpstreamTimeouts(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(3)), config.Router.Timeouts);
        Assert.Equal(new BreakerConfig(0.25, 10, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5)), config.Router.Breaker);
        Assert.Equal(50, config.Audit.QueueCapacity);
        Assert.Empty(config.Router.Fallback);
    }

    [Fact]
    public void An_empty_file_gives_the_documented_defaults()
    {
        var config = ConfigLoader.Parse("", "empty.toml");

        Assert.Equal("/run/unified-llm/openai.sock", config.Server.OpenAiSocket);
        Assert.Equal("/run/unified-llm/admin.sock", config.Server.AdminSocket);
        Assert.Equal("ullm-admin", config.Server.AdminGroup);
        Assert.Equal("127.0.0.1:9000", config.Server.TcpListen);
        Assert.Equal(SupervisorKind.Auto, config.Server.Supervisor);
        Assert.Equal(LogTarget.Auto, config.Server.LogTarget);
        Assert.Equal(16L << 20, config.Server.MaxRequestBodyBytes);
        Assert.Equal(512, config.Gpu.ReserveMib);
        Assert.Equal(TimeSpan.FromSeconds(2), config.Gpu.PollInterval);
        Assert.True(config.Backends.LlamaCpp.Enabled);
        Assert.Equal("llama-server", config.Backends.LlamaCpp.Executable);
        Assert.True(config.Security.RequireKeyOnTcp);
        Assert.Equal(30, config.Audit.RetentionDays);
        Assert.Empty(config.Models);
    }

    [Fact]
    public void A_non_loopback_listener_is_served_with_tls_from_files_or_credentials_or_in_plaintext_only_when_allowed()
    {
        var files = ConfigLoader.Parse(
            "[server]\ntcp_listen = \"0.0.0.0:9443\"\ntls_certificate = \"/etc/ullm/cert.pem\"\ntls_key = \"/etc/ullm/key.pem\"\ntls_client_ca = \"/etc/ullm/ca.pem\"\n", "tls.toml");
        var credentials = ConfigLoader.Parse(
            "[server]\ntcp_listen = \"10.0.0.5:9443\"\ntls_certificate_credential = \"ullm-cert\"\ntls_key_credential = \"ullm-key\"\ntls_key = \"\"\n", "cred.toml");
        var plaintext = ConfigLoader.Parse("[server]\ntcp_listen = \"0.0.0.0:9000\"\nallow_plaintext = true\n", "plain.toml");
        var loopback = ConfigLoader.Parse("[server]\ntcp_listen = \"[::1]:9000\"\n", "lo.toml");

        Assert.Equal(new TlsConfig(new ApiKeySource(ApiKeySourceKind.File, "/etc/ullm/cert.pem"), new ApiKeySource(ApiKeySourceKind.File, "/etc/ullm/key.pem"), "/etc/ullm/ca.pem"), files.Server.Tls);
        Assert.Equal(new TlsConfig(new ApiKeySource(ApiKeySourceKind.Credential, "ullm-cert"), new ApiKeySource(ApiKeySourceKind.Credential, "ullm-key"), null), credentials.Server.Tls);
        Assert.Null(plaintext.Server.Tls);
        Assert.True(plaintext.Server.AllowPlaintext);
        Assert.Null(loopback.Server.Tls);
        Assert.False(loopback.Server.AllowPlaintext);
    }

    [Theory]
    [InlineData("auto", "Auto")]
    [InlineData("journal", "Journal")]
    [InlineData("console", "Console")]
    public void The_log_target_is_read(string text, string expected)
    {
        Assert.Equal(expected, ConfigLoader.Parse($"[server]\nlog_target = \"{text}\"\n", "c.toml").Server.LogTarget.ToString());
    }

    [Theory]
    [InlineData(null, "Inline")]
    [InlineData("inline", "Inline")]
    [InlineData("pool", "Pool")]
    public void The_io_scheduling_is_read_and_inline_by_default(string? text, string expected)
    {
        var toml = text is null ? "[server]\n" : $"[server]\nio_scheduling = \"{text}\"\n";
        Assert.Equal(expected, ConfigLoader.Parse(toml, "c.toml").Server.IoScheduling.ToString());
    }

    [Fact]
    public async Task A_reload_that_changes_the_io_scheduling_is_refused_as_it_needs_a_restart()
    {
        using var dir = new TempDirectory();
        var file = dir.Write("c.toml", "[server]\n");
        using var holder = new ConfigHolder(await ConfigLoader.LoadFileAsync(file, TestContext.Current.CancellationToken), new EventHub(), TimeProvider.System);
        dir.Write("c.toml", "[server]\nio_scheduling = \"pool\"\n");

        var result = await holder.ReloadAsync(TestContext.Current.CancellationToken);

        Assert.False(result.Applied);
        var error = Assert.Single(result.Errors);
        Assert.Equal("server.io_scheduling", error.KeyPath);
        Assert.Contains("changed from 'inline' to 'pool'; this needs a restart of ullmd", error.Message, StringComparison.Ordinal);
        Assert.Equal(IoScheduling.Inline, holder.Current.Server.IoScheduling);
    }

    [Theory]
    [InlineData(null, "auto")]
    [InlineData("auto", "auto")]
    [InlineData("unix:path=/proc/42/root/run/dbus/system_bus_socket", "unix:path=/proc/42/root/run/dbus/system_bus_socket")]
    public void The_systemd_address_is_read(string? text, string expected)
    {
        var toml = text is null ? "[server]\n" : $"[server]\nsystemd_address = \"{text}\"\n";
        Assert.Equal(expected, ConfigLoader.Parse(toml, "c.toml").Server.SystemdAddress);
    }

    [Fact]
    public void Tcp_can_be_disabled_with_an_empty_string()
    {
        Assert.Null(ConfigLoader.Parse("[server]\ntcp_listen = \"\"\n", "c.toml").Server.TcpListen);
    }

    [Theory]
    [InlineData("[server]\ntcp_listne = \"127.0.0.1:1\"\n", 2, 1, "server.tcp_listne", "unknown key (did you mean 'tcp_listen'?)")]
    [InlineData("[sever]\n", 1, 2, "sever", "unknown key (did you mean 'server'?)")]
    [InlineData("[server]\ndata_dir = \"var/lib\"\n", 2, 1, "server.data_dir", "'var/lib' must be an absolute path")]
    [InlineData("[server]\ntcp_listen = \"localhost:9000\"\n", 2, 1, "server.tcp_listen", "is not HOST:PORT")]
    [InlineData("[server]\ntcp_listen = \"127.0.0.1:70000\"\n", 2, 1, "server.tcp_listen", "is not HOST:PORT")]
    [InlineData("[server]\nopenai_socket_mode = \"0999\"\n", 2, 1, "server.openai_socket_mode", "is not an octal file mode")]
    [InlineData("[server]\nsupervisor = \"sytemd\"\n", 2, 1, "server.supervisor", "(did you mean 'systemd'?)")]
    [InlineData("[server]\nlog_target = \"jounral\"\n", 2, 1, "server.log_target", "(did you mean 'journal'?)")]
    [InlineData("[server]\nio_scheduling = \"pol\"\n", 2, 1, "server.io_scheduling", "(did you mean 'pool'?)")]
    [InlineData("[server]\nsystemd_address = \"/run/dbus/system_bus_socket\"\n", 2, 1, "server.systemd_address", "has no \"transport:\" prefix")]
    [InlineData("[server]\nsystemd_address = \"tcp:host=localhost,port=1\"\n", 2, 1, "server.systemd_address", "transport \"tcp\" is not supported")]
    [InlineData("[server]\nlog_level = 3\n", 2, 1, "server.log_level", "expected a string, found an integer")]
    [InlineData("[server]\nadmin_socket = \"/run/x.sock\"\nopenai_socket = \"/run/x.sock\"\n", 2, 1, "server.admin_socket", "must differ from openai_socket")]
    [InlineData("[server]\nadmin_group = \"Bad Group\"\n", 2, 1, "server.admin_group", "is not a valid group name")]
    [InlineData("[server]\nstop_backends_on_exit = \"yes\"\n", 2, 1, "server.stop_backends_on_exit", "expected true or false, found a string")]
    [InlineData("[server]\nmax_request_body_bytes = 10\n", 2, 1, "server.max_request_body_bytes", "10 is out of range")]
    [InlineData("[gpu]\nallowed = [0, 99]\n", 2, 1, "gpu.allowed", "GPU index 99 is out of range 0..63")]
    [InlineData("[gpu]\nnvml_library = \"libnvidia-ml.so\"\n", 2, 1, "gpu.nvml_library", "must be an absolute path")]
    [InlineData("[gpu]\nreserve_mib = -1\n", 2, 1, "gpu.reserve_mib", "out of range")]
    [InlineData("[backends.llamacpp]\nexecutable = \"bin/llama-server\"\n", 2, 1, "backends.llamacpp.executable", "must be an absolute path")]
    [InlineData("[backends.llamacpp]\nenv = { \"1BAD\" = \"x\" }\n", 2, 1, "backends.llamacpp.env", "'1BAD' is not a valid environment variable name")]
    [InlineData("[backends.tgi]\n", 1, 11, "backends.tgi", "[backends.tgi] has no kind: a backend other than 'llamacpp', 'ollama', 'vllm' must set kind = \"generic\"")]
    [InlineData("[backends.tgi]\nkind = \"tgi\"\n", 1, 11, "backends.tgi", "has kind = \"tgi\"")]
    [InlineData("[backends.g]\nkind = \"generic\"\n", 1, 11, "backends.g", "missing required key 'command'")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\", \"--model\", \"${MODEL_FILE}\"]\n", 3, 1, "backends.g.command", "item 4: unknown placeholder '${MODEL_FILE}': use one of ${PORT}, ${HOST}, ${MODEL_PATH}, ${MODEL_NAME}, ${CTX}, ${GPUS}")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT\"]\n", 3, 1, "backends.g.command", "item 2: '${PORT' has a '${' without its closing '}'")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"8080\"]\n", 3, 1, "backends.g.command", "no argument or env value uses ${PORT}")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"bin/srv\", \"--port\", \"${PORT}\"]\n", 3, 1, "backends.g.command", "'bin/srv' must be an absolute path")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"${MODEL_PATH}\", \"--port\", \"${PORT}\"]\n", 3, 1, "backends.g.command", "item 0 is the executable and takes no placeholder")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\nenv = { P = \"${PORTS}\" }\n", 4, 1, "backends.g.env", "'P': unknown placeholder '${PORTS}'")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\nhealth = \"health\"\n", 4, 1, "backends.g.health", "'health' is not a path starting with '/'")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\nhealth_status = 99\n", 4, 1, "backends.g.health_status", "99 is out of range")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\nready_timeout_seconds = 0\n", 4, 1, "backends.g.ready_timeout_seconds", "out of range")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\nendpoints = [\"chat\", \"embedings\"]\n", 4, 1, "backends.g.endpoints", "'embedings' is not an endpoint the gateway routes: one of 'chat', 'completions', 'embeddings', 'rerank', 'transcriptions', 'translations', 'speech' (did you mean 'embeddings'?)")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\napi_prefix = \"v1\"\n", 4, 1, "backends.g.api_prefix", "'v1' is not a path starting with '/'")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\n[models.m]\nbackend = \"g\"\nsource = \"/m\"\n", 4, 9, "models.m", "missing required key 'memory_mib'")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\n[models.m]\nbackend = \"g\"\nsource = \"/m\"\nmemory_mib = 100\ngpu_count = 2\n", 4, 9, "models.m.gpu_memory_mib", "gpu_count is 2 but no gpu_memory_mib says how much memory each GPU needs")]
    [InlineData("[models.m]\nbackend = \"llama.cpp\"\nsource = \"/m.gguf\"\n", 2, 1, "models.m.backend", "'llama.cpp' is not one of 'llamacpp', 'ollama', 'vllm' (did you mean 'llamacpp'?)")]
    [InlineData("[providers.p]\nkind = \"open-ai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n", 2, 1, "providers.p.kind", "'open-ai' is not one of 'openai', 'anthropic' (did you mean 'openai'?)")]
    [InlineData("[backends.g]\nkind = \"generic\"\ncommand = [\"/usr/bin/srv\", \"--port\", \"${PORT}\"]\n[models.m]\nbackend = \"h\"\nsource = \"/m\"\n", 5, 1, "models.m.backend", "'h' is not one of 'llamacpp', 'ollama', 'vllm', 'g'")]
    [InlineData("[models.m]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\nmemory_mib = 100\n", 4, 1, "models.m.memory_mib", "only a model on a generic backend declares its memory")]
    [InlineData("[models.m]\nsource = \"/m.gguf\"\n", 1, 9, "models.m", "missing required key 'backend'")]
    [InlineData("[models.m]\nbackend = \"llamacpp\"\n", 1, 9, "models.m", "missing required key 'source'")]
    [InlineData("[models.m]\nbackend = \"lamacpp\"\nsource = \"/m.gguf\"\n", 2, 1, "models.m.backend", "(did you mean 'llamacpp'?)")]
    [InlineData("[models.m]\nbackend = \"ollama\"\nsource = \"llama3\"\n", 2, 1, "models.m.backend", "backend 'ollama' is disabled in [backends]")]
    [InlineData("[models.m]\nbackend = \"llamacpp\"\nsource = \"m.gguf\"\n", 3, 1, "models.m.source", "must be an absolute path")]
    [InlineData("[models.m]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\ngpu_layers = \"all\"\n", 4, 1, "models.m.gpu_layers", "expected \"auto\" or a number")]
    [InlineData("[models.m]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\ncontxt = 4096\n", 4, 1, "models.m.contxt", "(did you mean 'context'?)")]
    [InlineData("[models.m]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\naliases = [\"a/b\"]\n", 4, 1, "models.m.aliases", "alias 'a/b': names must be")]
    [InlineData("[models.\"../etc\"]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\n", 1, 9, "models.\"../etc\"", "names must be")]
    [InlineData("[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\n[models.b]\nbackend = \"llamacpp\"\nsource = \"/b.gguf\"\naliases = [\"a\"]\n", 7, 1, "models.b.aliases", "'a' is already the name or an alias of model 'a'")]
    [InlineData("[backends.llamacpp]\nmax_loaded = -1\n", 2, 1, "backends.llamacpp.max_loaded", "-1 is out of range; expected 0..10000")]
    [InlineData("[backends.ollama]\nenabled = true\n[models.m]\nbackend = \"ollama\"\nsource = \"llama3\"\nparallel = 2\n", 6, 1, "models.m.parallel", "Ollama serves every model with the same number of slots: set OLLAMA_NUM_PARALLEL in [backends.ollama] env")]
    [InlineData("[backends.vllm]\nenabled = true\n[models.m]\nbackend = \"vllm\"\nsource = \"/m\"\nparallel = 0\n", 6, 1, "models.m.parallel", "0 is out of range; expected 1..4096")]
    [InlineData(PinnedA + PinnedB + "[backends.llamacpp]\nmax_loaded = 1\n", 10, 1, "backends.llamacpp.max_loaded", "1 is less than the 2 pinned llamacpp models ('a', 'b'), which all stay loaded")]
    [InlineData("[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\ngroup = \"x y\"\n", 4, 1, "models.a.group", "group 'x y': names must be")]
    [InlineData("[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\ngroup = 3\n", 4, 1, "models.a.group", "expected a string, found an integer")]
    [InlineData(
        "[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\ngroup = \"coder\"\n[models.b]\nbackend = \"llamacpp\"\nsource = \"/b.gguf\"\ngroup = \"coders\"\n",
        8, 1, "models.b.group", "exclusive group 'coders' has no other member; a group swaps between at least two models (did you mean 'coder'?)")]
    [InlineData(PinnedA + "group = \"g\"\n" + PinnedB + "group = \"g\"\n", 10, 1, "models.b.group", "'b' and 'a' are both pinned in exclusive group 'g', which holds one loaded member at a time")]
    [InlineData("[providers.p]\nbase_url = \"https://x/v1\"\n", 1, 12, "providers.p", "missing required key 'kind'")]
    [InlineData("[providers.p]\nkind = \"gemini\"\nbase_url = \"https://x/v1\"\n", 2, 1, "providers.p.kind", "is not one of 'openai', 'anthropic'")]
    [InlineData("[providers.p]\nkind = \"openai\"\nbase_url = \"file:///x\"\n", 3, 1, "providers.p.base_url", "is not an http(s) URL")]
    [InlineData("[providers.p]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\napi_key = \"sk-secret\"\n", 4, 1, "providers.p.api_key", "inline secrets are refused")]
    [InlineData("[providers.p]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\napi_key_env = \"A\"\napi_key_file = \"/k\"\n", 1, 12, "providers.p", "set only one of")]
    [InlineData("[providers.p]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\napi_key_file = \"key.txt\"\n", 4, 1, "providers.p.api_key_file", "must be an absolute path")]
    [InlineData("[routes.r]\nstrategy = \"fastest\"\ntargets = [\"x\"]\n", 2, 1, "routes.r.strategy", "is not one of 'local-first'")]
    [InlineData("[routes.r]\ntargets = []\n", 2, 1, "routes.r.targets", "a route needs at least one target")]
    [InlineData("[routes.r]\ntargets = [\"gpt4\"]\n", 2, 1, "routes.r.targets", "unknown target 'gpt4'")]
    [InlineData("[router.fallback]\nnobody = [\"x\"]\n", 2, 1, "router.fallback.nobody", "fallback for unknown model 'nobody'")]
    [InlineData("[server]\ntcp_listen = \"0.0.0.0:9000\"\n[security]\nrequire_key_on_tcp = false\n", 4, 1, "security.require_key_on_tcp", "must be true when server.tcp_listen")]
    [InlineData("[server]\ntcp_listen = \"0.0.0.0:9000\"\n", 2, 1, "server.tcp_listen", "'0.0.0.0:9000' is not a loopback address, so it needs TLS: set tls_certificate and tls_key")]
    [InlineData("[server]\ntcp_listen = \"[::]:9000\"\nallow_plaintext = false\n", 2, 1, "server.tcp_listen", "or allow_plaintext = true to serve it without encryption")]
    [InlineData("[server]\ntls_certificate = \"/etc/ullm/cert.pem\"\n", 2, 1, "server.tls_certificate", "a TLS certificate needs its private key")]
    [InlineData("[server]\ntls_key_credential = \"ullm-key\"\n", 2, 1, "server.tls_key_credential", "a TLS key needs its certificate")]
    [InlineData("[server]\ntls_certificate = \"cert.pem\"\ntls_key = \"/k.pem\"\n", 2, 1, "server.tls_certificate", "must be an absolute path")]
    [InlineData("[server]\ntls_certificate = \"/c.pem\"\ntls_certificate_credential = \"c\"\ntls_key = \"/k.pem\"\n", 3, 1, "server.tls_certificate_credential", "set only one of tls_certificate and tls_certificate_credential")]
    [InlineData("[server]\ntls_client_ca = \"/ca.pem\"\n", 2, 1, "server.tls_client_ca", "client certificates need TLS")]
    [InlineData("[server]\ntcp_listen = \"\"\ntls_certificate = \"/c.pem\"\ntls_key = \"/k.pem\"\n", 3, 1, "server.tls_certificate", "TLS is for the TCP listener")]
    [InlineData("[server]\nallow_plaintext = \"yes\"\n", 2, 1, "server.allow_plaintext", "")]
    [InlineData("[providers.c]\nkind = \"anthropic\"\nbase_url = \"https://x/v1\"\nresponses_api = true\n", 4, 1, "providers.c.responses_api", "only a provider of kind 'openai'")]
    [InlineData("[audit]\nretention_days = 0\n", 2, 1, "audit.retention_days", "0 is out of range")]
    [InlineData("[audit]\nqueue_capacity = 0\n", 2, 1, "audit.queue_capacity", "0 is out of range")]
    [InlineData("[router]\nfirst_token_timeout_seconds = 0\n", 2, 1, "router.first_token_timeout_seconds", "out of range")]
    [InlineData("[router]\nbreaker_failure_ratio = 1.5\n", 2, 1, "router.breaker_failure_ratio", "out of range")]
    [InlineData("[router]\nbreaker_minimum_requests = 1\n", 2, 1, "router.breaker_minimum_requests", "1 is out of range")]
    [InlineData("[router]\nidle_timeout = 5\n", 2, 1, "router.idle_timeout", "unknown key")]
    [InlineData("server = 5\n", 1, 1, "server", "expected a table, found an integer")]
    [InlineData("[server]\ndata_dir = \n", 2, 12, "", "TOML syntax")]
    public void Each_invalid_value_is_reported_with_its_location_and_key_path(string toml, int line, int column, string keyPath, string message)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "test.toml"));

        var error = Assert.Single(e.Errors, x => x.KeyPath == keyPath && x.Message.Contains(message, StringComparison.Ordinal));
        Assert.Equal("test.toml", error.File);
        Assert.Equal((line, column), (error.Line, error.Column));
    }

    [Theory]
    [InlineData("[security]\nrequire_key_on_tcp = false\nrequire_key_on_tcp = true\n", "dup.toml:3:1: security.require_key_on_tcp: defined twice: first at dup.toml:2:1")]
    [InlineData("[gpu]\nreserve_mib = 512\n\n[gpu]\npoll_interval_seconds = 5\n", "dup.toml:4:1: gpu: defined twice: first at dup.toml:1:1")]
    [InlineData("[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\nsource = \"/b.gguf\"\n", "dup.toml:4:1: models.a.source: defined twice: first at dup.toml:3:1")]
    public void A_key_or_table_defined_twice_is_an_error_naming_both_places(string toml, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "dup.toml"));

        Assert.Equal(expected + "; TOML allows each key and table only once", Assert.Single(e.Errors).ToString());
    }

    [Fact]
    public void Every_error_in_a_file_is_reported_in_one_run_sorted_by_line()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(
            "[server]\nbogus = 1\ndata_dir = \"x\"\n[gpu]\nreserve_mib = \"a\"\n[models.m]\nbackend = \"llamacpp\"\n",
            "many.toml"));

        Assert.Equal(
            ["many.toml:2:1: server.bogus: unknown key", "many.toml:3:1: server.data_dir: 'x' must be an absolute path",
                "many.toml:5:1: gpu.reserve_mib: expected an integer, found a string", "many.toml:6:9: models.m: missing required key 'source'"],
            e.Errors.Select(x => x.ToString()));
    }

    [Fact]
    public void Groups_and_max_loaded_bind_and_two_group_members_with_one_pinned_are_valid()
    {
        var config = ConfigLoader.Parse(
            "[backends.llamacpp]\nmax_loaded = 2\n" + PinnedA + "group = \"g\"\n[models.b]\nbackend = \"llamacpp\"\nsource = \"/b.gguf\"\ngroup = \"g\"\n"
            + "[models.c]\nbackend = \"llamacpp\"\nsource = \"/c.gguf\"\n",
            "groups.toml");

        Assert.Equal(2, config.Backends.LlamaCpp.MaxLoaded);
        Assert.Equal(0, config.Backends.Ollama.MaxLoaded);
        Assert.Equal(["g", "g", null], config.Models.Values.Select(m => m.Group));
    }

    [Fact]
    public void A_provider_model_target_needs_a_configured_provider()
    {
        var toml = "[providers.openai]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\napi_key_env = \"K\"\n[routes.r]\ntargets = [\"openai/gpt-4o\", \"anthropic/claude\"]\n";

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "t.toml"));

        Assert.Contains("unknown target 'anthropic/claude'", Assert.Single(e.Errors).Message);
    }

    [Fact]
    public void Parallel_sets_a_vllm_models_sequences_beyond_llama_cpps_slot_limit_and_defaults_to_4()
    {
        const string Model = "[backends.vllm]\nenabled = true\n[models.m]\nbackend = \"vllm\"\nsource = \"/models/m\"\n";

        Assert.Equal(ModelConfig.DefaultParallel, ConfigLoader.Parse(Model, "t").Models["m"].Parallel);
        Assert.Equal(1024, ConfigLoader.Parse(Model + "parallel = 1024\n", "t").Models["m"].Parallel);
    }

    [Fact]
    public void Gpu_layers_accepts_auto_or_a_count()
    {
        const string Model = "[models.m]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\n";

        Assert.Null(ConfigLoader.Parse(Model + "gpu_layers = \"auto\"\n", "t").Models["m"].GpuLayers);
        Assert.Equal(33, ConfigLoader.Parse(Model + "gpu_layers = 33\n", "t").Models["m"].GpuLayers);
    }

    [Fact]
    public void An_openai_provider_may_declare_that_it_speaks_the_responses_api()
    {
        var config = ConfigLoader.Parse("[providers.p]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\nresponses_api = true\n\n[providers.q]\nkind = \"openai\"\nbase_url = \"https://y/v1\"\n", "t");

        Assert.Equal((true, false), (config.Providers["p"].ResponsesApi, config.Providers["q"].ResponsesApi));
    }

    [Fact]
    public void An_inline_key_is_accepted_only_when_explicitly_allowed()
    {
        var config = ConfigLoader.Parse(
            "[providers.p]\nkind = \"anthropic\"\nbase_url = \"https://x/v1\"\napi_key = \"sk-1\"\nallow_inline_api_key = true\n", "t");

        Assert.Equal(ApiKeySourceKind.Inline, config.Providers["p"].ApiKey.Kind);
        Assert.Equal("inline", config.Providers["p"].ApiKey.ToString());
    }

    [Fact]
    public async Task A_missing_file_is_a_config_error_naming_the_file()
    {
        var e = await Assert.ThrowsAsync<ConfigException>(() => ConfigLoader.LoadFileAsync("/nonexistent/ullm.toml", CancellationToken.None));

        Assert.StartsWith("/nonexistent/ullm.toml: cannot read the config file", Assert.Single(e.Errors).ToString());
    }

    [Theory]
    [InlineData("tcp_listen", "tcp_listne", 1)]
    [InlineData("context", "contxt", 1)]
    [InlineData("server", "sevrer", 1)]
    public void Suggestion_distance_counts_edits_and_transpositions(string a, string b, int distance)
    {
        Assert.Equal(distance, Suggestions.Distance(a, b));
    }
}
