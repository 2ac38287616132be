package io.headscan.sweep;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.SQLException;
import java.util.Properties;

/**
 * DuckDB's JDBC driver, found on the class path (tests, embedding applications) or else in {@code lib/duckdb_jdbc.jar}
 * beside headscan's jar, where the build puts it: it is 80 MB (natives for four platforms), so it is not inside the
 * runnable jar and only {@code sweep} ever loads it.
 */
final class DuckDb {

    static final String DRIVER = "org.duckdb.DuckDBDriver";
    private static Driver driver;

    private DuckDb() {}

    static Connection connect(Path file) throws SQLException {
        return driver().connect("jdbc:duckdb:" + file.toAbsolutePath(), new Properties());
    }

    private static synchronized Driver driver() throws SQLException {
        if (driver != null) return driver;
        Class<?> c;
        try {
            c = Class.forName(DRIVER);
        } catch (ClassNotFoundException e) {
            Path jar = besideTheJar();
            if (jar == null || !Files.isRegularFile(jar)) {
                throw new SQLException("sweep needs DuckDB's JDBC driver: " + (jar == null ? "lib/duckdb_jdbc.jar" : jar)
                        + " is missing; rebuild with './mvnw package' (it copies it there)");
            }
            try {
                URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, DuckDb.class.getClassLoader());
                c = Class.forName(DRIVER, true, loader);
            } catch (ReflectiveOperationException | java.net.MalformedURLException | LinkageError ex) {
                throw new SQLException("cannot load DuckDB from " + jar + ": " + ex, ex);
            }
        }
        try {
            driver = (Driver) c.getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new SQLException("cannot start DuckDB's driver: " + e, e);
        }
        return driver;
    }

    private static Path besideTheJar() {
        try {
            var src = DuckDb.class.getProtectionDomain().getCodeSource();
            if (src == null) return null;
            Path self = Path.of(src.getLocation().toURI());
            return self.getParent() == null ? null : self.getParent().resolve("lib").resolve("duckdb_jdbc.jar");
        } catch (Exception e) {
            return null;
        }
    }
}
