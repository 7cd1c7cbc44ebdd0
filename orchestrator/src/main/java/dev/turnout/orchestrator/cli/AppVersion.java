package dev.turnout.orchestrator.cli;

import picocli.CommandLine;

/** {@code APP:VERSION} as typed on the command line. */
record AppVersion(String app, String version) {

    static AppVersion parse(String text) {
        int colon = text == null ? -1 : text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new CommandLine.TypeConversionException("'" + text + "' is not APP:VERSION, e.g. web:1.2.0");
        }
        return new AppVersion(text.substring(0, colon), text.substring(colon + 1));
    }

    String path() {
        return ApiClient.segment(app) + "/" + ApiClient.segment(version);
    }

    @Override
    public String toString() {
        return app + ":" + version;
    }

    static final class Converter implements CommandLine.ITypeConverter<AppVersion> {
        @Override
        public AppVersion convert(String value) {
            return parse(value);
        }
    }
}
