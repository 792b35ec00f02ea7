package io.instella.hub;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Exclusive lock on {@code .locks/<repo folder>/<etag>.lock}, so two downloads of one blob never write the same
 * {@code .incomplete} file. huggingface_hub takes the same file with the {@code filelock} package, which uses
 * {@code flock(2)} on Unix; on Linux and macOS this class calls {@code flock} too (through the FFM API), so Java and
 * Python processes exclude each other. Elsewhere, or without native access, it falls back to
 * {@link FileChannel#lock} (fcntl record locks: Java processes still exclude each other). Threads of one JVM are
 * serialised by an in-process lock first.
 */
final class BlobLock implements AutoCloseable {

    private static final ConcurrentHashMap<Path, ReentrantLock> IN_PROCESS = new ConcurrentHashMap<>();
    private static final long POLL_MILLIS = 100;

    private final ReentrantLock threadLock;
    private final int fd;
    private final FileChannel channel;
    private final FileLock channelLock;
    private boolean closed;

    private BlobLock(ReentrantLock threadLock, int fd, FileChannel channel, FileLock channelLock) {
        this.threadLock = threadLock;
        this.fd = fd;
        this.channel = channel;
        this.channelLock = channelLock;
    }

    /**
     * Waits until the lock is free. {@code onWait} is told once when another holder makes us wait more than
     * {@code notifyAfter}.
     */
    static BlobLock acquire(Path lockFile, Duration notifyAfter, Consumer<String> onWait) throws IOException {
        Path key = lockFile.toAbsolutePath().normalize();
        ReentrantLock threadLock = IN_PROCESS.computeIfAbsent(key, k -> new ReentrantLock());
        long start = System.nanoTime();
        boolean told = false;
        try {
            while (!threadLock.tryLock(POLL_MILLIS, TimeUnit.MILLISECONDS)) {
                told = tellOnce(told, start, notifyAfter, onWait, lockFile);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the lock " + lockFile, e);
        }
        try {
            Files.createDirectories(key.getParent());
            try {
                Files.createFile(key);
            } catch (FileAlreadyExistsException ignored) {
                // normal: the lock file stays after use, as with huggingface_hub
            }
            if (Flock.AVAILABLE) {
                int fd = Flock.open(key);
                if (fd >= 0) {
                    try {
                        while (true) {
                            int result = Flock.tryLock(fd);
                            if (result == Flock.LOCKED) {
                                return new BlobLock(threadLock, fd, null, null);
                            }
                            if (result == Flock.UNSUPPORTED) {
                                break;
                            }
                            told = tellOnce(told, start, notifyAfter, onWait, lockFile);
                            sleep(lockFile);
                        }
                    } catch (IOException | RuntimeException e) {
                        Flock.close(fd);
                        throw e;
                    }
                    Flock.close(fd);
                }
            }
            FileChannel channel = FileChannel.open(key, StandardOpenOption.WRITE);
            try {
                while (true) {
                    FileLock lock;
                    try {
                        lock = channel.tryLock();
                    } catch (OverlappingFileLockException e) {
                        lock = null;
                    }
                    if (lock != null) {
                        return new BlobLock(threadLock, -1, channel, lock);
                    }
                    told = tellOnce(told, start, notifyAfter, onWait, lockFile);
                    sleep(lockFile);
                }
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            threadLock.unlock();
            throw e;
        }
    }

    private static boolean tellOnce(boolean told, long start, Duration after, Consumer<String> onWait, Path file) {
        if (!told && System.nanoTime() - start > after.toNanos()) {
            onWait.accept("Waiting for another download of the same file to finish (lock " + file + ")...");
            return true;
        }
        return told;
    }

    private static void sleep(Path lockFile) throws IOException {
        try {
            Thread.sleep(POLL_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the lock " + lockFile, e);
        }
    }

    /** Whether this JVM takes flock(2) locks, the kind Python's filelock takes. */
    static boolean usesFlock() {
        return Flock.AVAILABLE;
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (fd >= 0) {
                Flock.close(fd); // closing the descriptor releases the flock
            }
            if (channel != null) {
                try {
                    channelLock.release();
                } finally {
                    channel.close();
                }
            }
        } finally {
            threadLock.unlock();
        }
    }

    /** libc open/flock/close through the FFM API; only where native access is enabled (no warning otherwise). */
    private static final class Flock {
        static final int LOCKED = 0;
        static final int BUSY = 1;
        static final int UNSUPPORTED = 2;

        private static final int O_RDWR = 2; // same value on Linux and macOS
        private static final int LOCK_EX = 2;
        private static final int LOCK_NB = 4;
        private static final int EINTR = 4;

        static final boolean AVAILABLE;
        private static final int EWOULDBLOCK;
        private static final MethodHandle OPEN;
        private static final MethodHandle FLOCK;
        private static final MethodHandle CLOSE;
        private static final MemoryLayout CAPTURE;
        private static final VarHandle ERRNO;

        static {
            String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
            boolean linux = os.contains("linux");
            boolean mac = os.contains("mac");
            MethodHandle open = null;
            MethodHandle flock = null;
            MethodHandle close = null;
            MemoryLayout capture = null;
            VarHandle errno = null;
            boolean available = false;
            if ((linux || mac) && BlobLock.class.getModule().isNativeAccessEnabled()) {
                try {
                    Linker linker = Linker.nativeLinker();
                    SymbolLookup libc = linker.defaultLookup();
                    Linker.Option errnoOption = Linker.Option.captureCallState("errno");
                    capture = Linker.Option.captureStateLayout();
                    errno = capture.varHandle(MemoryLayout.PathElement.groupElement("errno"));
                    open = linker.downcallHandle(libc.find("open").orElseThrow(),
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                                    ValueLayout.JAVA_INT),
                            Linker.Option.firstVariadicArg(2), errnoOption);
                    flock = linker.downcallHandle(libc.find("flock").orElseThrow(),
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
                            errnoOption);
                    close = linker.downcallHandle(libc.find("close").orElseThrow(),
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
                    available = true;
                } catch (RuntimeException | LinkageError e) {
                    available = false;
                }
            }
            AVAILABLE = available;
            EWOULDBLOCK = mac ? 35 : 11;
            OPEN = open;
            FLOCK = flock;
            CLOSE = close;
            CAPTURE = capture;
            ERRNO = errno;
        }

        /** A descriptor for the existing file, or -1 when it cannot be opened this way. */
        static int open(Path file) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = arena.allocate(CAPTURE);
                MemorySegment path = arena.allocateFrom(file.toString());
                return (int) OPEN.invokeExact(state, path, O_RDWR, 0644);
            } catch (Throwable t) {
                return -1;
            }
        }

        static int tryLock(int fd) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = arena.allocate(CAPTURE);
                int rc = (int) FLOCK.invokeExact(state, fd, LOCK_EX | LOCK_NB);
                if (rc == 0) {
                    return LOCKED;
                }
                int err = (int) ERRNO.get(state, 0L);
                return err == EWOULDBLOCK || err == EINTR ? BUSY : UNSUPPORTED;
            } catch (Throwable t) {
                return UNSUPPORTED;
            }
        }

        static void close(int fd) {
            try {
                int ignored = (int) CLOSE.invokeExact(fd);
            } catch (Throwable t) {
                // nothing sensible to do: the descriptor is gone either way
            }
        }
    }
}
