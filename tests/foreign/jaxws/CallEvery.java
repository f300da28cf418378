// Drive JAX-WS (the reference implementation) through the classes wsimport generated from
// one WSDL the emulator serves: take each request from an XML file (unmarshalled by JAXB
// into the generated class), call the generated port's method for the operation, and print
// one line per call: "<operation> OK <response XML in base64>" or "<operation> ERROR <why>".
// Usage: java CallEvery <package> <service name> <wsdl URL> <operation>=<request file>...
import java.io.File;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import javax.jws.WebMethod;
import javax.xml.bind.JAXBContext;
import javax.xml.bind.JAXBElement;
import javax.xml.bind.JAXBIntrospector;
import javax.xml.bind.Marshaller;
import javax.xml.namespace.QName;
import javax.xml.ws.Service;

public final class CallEvery {
    public static void main(String[] args) throws Exception {
        String pkg = args[0];
        String name = args[1];
        URL wsdl = new URL(args[2]);
        Class<?> serviceClass = Class.forName(pkg + "." + name + "Service");
        Service service = (Service) serviceClass.getConstructor(URL.class).newInstance(wsdl);
        Object port = serviceClass.getMethod("get" + name + "Port").invoke(service);
        Class<?> portType = Class.forName(pkg + "." + name + "PortType");
        JAXBContext context = JAXBContext.newInstance(pkg);
        for (int i = 3; i < args.length; i++) {
            String[] pair = args[i].split("=", 2);
            String operation = pair[0];
            try {
                Object request = JAXBIntrospector.getValue(
                    context.createUnmarshaller().unmarshal(new File(pair[1])));
                Method method = null;
                for (Method m : portType.getMethods()) {
                    WebMethod web = m.getAnnotation(WebMethod.class);
                    if (web != null && web.operationName().equals(operation)) {
                        method = m;
                    }
                }
                if (method == null) {
                    throw new IllegalStateException("no method for operation " + operation);
                }
                Object response = method.invoke(port, request);
                String responseName = method.getAnnotation(javax.jws.WebResult.class).name();
                String namespace = method.getAnnotation(javax.jws.WebResult.class).targetNamespace();
                @SuppressWarnings({"unchecked", "rawtypes"})
                JAXBElement<?> element = new JAXBElement(new QName(namespace, responseName),
                                                         response.getClass(), response);
                StringWriter out = new StringWriter();
                Marshaller marshaller = context.createMarshaller();
                marshaller.marshal(element, out);
                byte[] bytes = out.toString().getBytes(StandardCharsets.UTF_8);
                System.out.println(operation + " OK " + Base64.getEncoder().encodeToString(bytes));
            } catch (InvocationTargetException e) {
                System.out.println(operation + " ERROR " + e.getCause());
            } catch (Exception e) {
                System.out.println(operation + " ERROR " + e);
            }
        }
    }
}
