package io.instella.server;

import io.instella.model.InstellaVL;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.time.Duration;
import java.util.logging.Logger;

/**
 * {@code instella serve}: an OpenAI-compatible HTTP server for one loaded model, on Jetty 12 (core API,
 * no servlets). Requests run through the continuous-batching {@link Engine}.
 */
public final class InstellaServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(InstellaServer.class.getName());

    private final ServerOptions options;
    private final Metrics metrics = new Metrics();
    private final Engine engine;
    private final Server server;
    private final ServerConnector connector;
    private final GracefulHandler graceful;
    private final ImageResolver images;
    private volatile boolean closed;

    private InstellaServer(InstellaVL model, ServerOptions options, ImageDecodePool.Decoder decoder) {
        if (options.contextLength() > model.contextLength()) {
            throw new IllegalArgumentException("--ctx " + options.contextLength() + " is larger than the model's context of "
                    + model.contextLength() + " tokens");
        }
        this.options = options;
        this.engine = new Engine(model, options, metrics);
        this.images = decoder == null ? new ImageResolver(model, options, metrics)
                : new ImageResolver(model, options, metrics, decoder);
        RequestParser parser = new RequestParser(model, options, images);
        // Each request holds a thread while it waits for tokens: size the pool for running + queued ones.
        QueuedThreadPool threads = new OneLineFailuresThreadPool(Math.max(32, 2 * (options.parallel() + options.queueSize()) + 16), 4);
        threads.setName("instella-http");
        this.server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        this.connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        // A request waiting for a whole answer sends nothing for as long as generation takes: let the request
        // timeout, not the connection's idle timeout, decide when that is too long.
        connector.setIdleTimeout(options.requestTimeout().plusSeconds(60).toMillis());
        server.addConnector(connector);
        this.graceful = new GracefulHandler(new ApiHandler(options, engine, parser, metrics));
        server.setHandler(graceful);
        // Requests Jetty refuses before they reach the API (a garbage request line, bad headers): the OpenAI error
        // shape, no stack trace to the client or the log.
        server.setErrorHandler(new JsonErrorHandler(metrics));
        server.setStopTimeout(options.shutdownGrace().toMillis() + 5000);
        server.setStopAtShutdown(false);
    }

    /** Starts serving; the model stays owned by the caller. */
    public static InstellaServer start(InstellaVL model, ServerOptions options) throws Exception {
        return start(model, options, null);
    }

    /** With another image decoder (tests: a slow or failing one); null = the standard one. */
    static InstellaServer start(InstellaVL model, ServerOptions options, ImageDecodePool.Decoder decoder) throws Exception {
        InstellaServer s = new InstellaServer(model, options, decoder);
        try {
            s.server.start();
        } catch (Exception e) {
            s.engine.close();
            s.images.close();
            s.server.stop();
            throw e;
        }
        LOG.fine(() -> "listening on " + s.url());
        return s;
    }

    /** The port actually bound (useful with port 0). */
    public int port() { return connector.getLocalPort(); }

    public String url() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return "http://" + host + ":" + port();
    }

    public Metrics metrics() { return metrics; }

    public Engine engine() { return engine; }

    public ServerOptions options() { return options; }

    /** Blocks until the server stops. */
    public void join() throws InterruptedException {
        server.join();
    }

    /**
     * Graceful stop: refuse new requests (503), let running and queued ones finish for the configured
     * grace period, cancel the rest cleanly (streams get an error event and [DONE]), then close the port.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        engine.shutdown(options.shutdownGrace());
        try {
            graceful.shutdown().get(5, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // handlers still writing after the engine stopped are cut by stop() below
        }
        try {
            server.stop();
        } catch (Exception e) {
            LOG.warning("stopping the HTTP server: " + e);
        }
        images.close();
    }

    /**
     * Jetty's pool, but a job that fails inside Jetty is logged as one line, not as a WARN with a stack trace. Under
     * hostile traffic Jetty 12.1's HTTP/1 connection sometimes releases a request buffer twice
     * ({@code IllegalStateException: already released} from {@code HttpConnection.releaseRequestBuffer}, upstream
     * jetty/jetty.project#12939, seen in one of four runs of the 10,000-request hostile load test here): the connection is dropped, the
     * server goes on, and the operator needs to know that, not Jetty's internals.
     */
    private static final class OneLineFailuresThreadPool extends QueuedThreadPool {
        OneLineFailuresThreadPool(int maxThreads, int minThreads) {
            super(maxThreads, minThreads);
        }

        @Override
        protected void runJob(Runnable job) {
            try {
                super.runJob(job);
            } catch (RuntimeException e) {
                LOG.warning(() -> "an HTTP connection job failed inside Jetty (that connection may be dropped; the server goes on): "
                        + e.getMessage());
            }
        }
    }
}
