// A real JVM's side of the bridge's XMPP login, up to the TLS handshake: STARTTLS to the
// server, then the JVM's default SSL context (the trust JAVA_TOOL_OPTIONS sets, as in the jvb
// container) and a check of the XMPP domain against the certificate's names, as Smack makes
// once jicoco leaves verification on. Prints "verified" or the JVM's refusal; exit 0 or 1.
// Run with the JDK's source launcher: java XmppTlsProbe.java HOST PORT DOMAIN
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import java.util.List;

public class XmppTlsProbe {
    public static void main(String[] args) throws Exception {
        String host = args[0], domain = args[2];
        int port = Integer.parseInt(args[1]);
        try (Socket plain = new Socket(host, port)) {
            plain.setSoTimeout(10000);
            OutputStream out = plain.getOutputStream();
            InputStream in = plain.getInputStream();
            send(out, "<?xml version='1.0'?><stream:stream to='" + domain + "' version='1.0'"
                + " xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
            readUntil(in, "</stream:features>");
            send(out, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
            readUntil(in, "<proceed");
            SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
            SSLSocket tls = (SSLSocket) factory.createSocket(plain, domain, port, true);
            SSLParameters parameters = tls.getSSLParameters();
            parameters.setServerNames(List.of(new SNIHostName(domain)));
            parameters.setEndpointIdentificationAlgorithm("HTTPS");  // the name check
            tls.setSSLParameters(parameters);
            try {
                tls.startHandshake();
            } catch (javax.net.ssl.SSLException refused) {
                System.out.println("refused: " + refused.getMessage());
                System.exit(1);
            }
            System.out.println("verified: " + tls.getSession().getPeerPrincipal());
        }
    }

    static void send(OutputStream out, String text) throws Exception {
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    static void readUntil(InputStream in, String mark) throws Exception {
        StringBuilder seen = new StringBuilder();
        while (seen.indexOf(mark) < 0) {
            int next = in.read();
            if (next < 0) {
                throw new IllegalStateException("the server closed the stream before " + mark);
            }
            seen.append((char) next);
        }
        if (mark.equals("<proceed")) {
            while (in.read() != '>') { }  // the rest of the element: TLS starts after it
        }
    }
}
