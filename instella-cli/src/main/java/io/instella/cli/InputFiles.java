package io.instella.cli;

import io.instella.model.InstellaException;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Checks a file named on the command line before it is read. Reading a device ({@code /dev/zero}) never ends and
 * opening a FIFO with no writer blocks forever, so only regular files are read; the check looks at the file's type
 * without opening it, and so answers at once.
 */
final class InputFiles {
    private InputFiles() {}

    /** Throws a one-line error (exit code 1) unless {@code file} is an existing, readable regular file. */
    static Path requireRegularFile(Path file) {
        if (!Files.exists(file)) {
            throw new InstellaException(file + ": file not found" + (Files.exists(file, LinkOption.NOFOLLOW_LINKS)
                    ? " (a symbolic link to a missing file)" : ""));
        }
        if (Files.isDirectory(file)) throw new InstellaException(file + " is a directory, not a file");
        if (!Files.isRegularFile(file)) {
            throw new InstellaException(file + " is not a regular file (a device, FIFO or socket); save its content to a file and pass that");
        }
        if (!Files.isReadable(file)) throw new InstellaException(file + ": permission denied (the file is not readable)");
        return file;
    }
}
