//! Responses every operation of a kind can give, added to the OpenAPI document so that it
//! states them without repeating them on each handler: a body that cannot be read (400), of
//! the wrong content type (415), too large (413) or with a field of the wrong type (422); a
//! query string that cannot be read (400). All are problem reports.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

pub struct CommonResponses;

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            )
        });
}

impl Modify for CommonResponses {
    fn modify(&self, api: &mut OpenApi) {
        for item in api.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                if op.request_body.is_some() {
                    add(op, "400", "The body cannot be read");
                    add(op, "413", "The body is too large");
                    add(
                        op,
                        "415",
                        "The body is not of the content type this operation takes",
                    );
                    add(
                        op,
                        "422",
                        "A field of the body is missing or of the wrong type",
                    );
                }
                let query = op.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == ParameterIn::Query,
                    RefOr::Ref(_) => false,
                });
                if query {
                    add(op, "400", "A query parameter cannot be read");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    #[test]
    fn body_and_query_problems_are_documented_everywhere() {
        let api = crate::web::ApiDoc::openapi();
        let chat = api.paths.paths["/api/v1/chat"].post.as_ref().unwrap();
        for status in ["400", "413", "415", "422"] {
            assert!(chat.responses.responses.contains_key(status), "{status}");
        }
        let log = api.paths.paths["/api/v1/access-log"].get.as_ref().unwrap();
        assert!(log.responses.responses.contains_key("400"));
        let health = api.paths.paths["/healthz"].get.as_ref().unwrap();
        assert!(!health.responses.responses.contains_key("400"));
    }

    // The job and its report are described field by field, not as a bare object.
    #[test]
    fn the_job_and_the_report_are_described_field_by_field() {
        let api = serde_json::to_value(crate::web::ApiDoc::openapi()).unwrap();
        let schemas = &api["components"]["schemas"];
        let job = &schemas["JobView"]["properties"];
        assert!(
            job["report"]
                .to_string()
                .contains("#/components/schemas/Report")
        );
        assert!(job["verdict"].to_string().contains("Verdict"), "{job}");
        let report = &schemas["Report"]["properties"];
        for key in [
            "document_type",
            "fields",
            "checks",
            "warnings",
            "verdict",
            "reasons",
            "prefill",
            "frames",
            "verdict_as_read",
            "confirmed",
        ] {
            assert!(report.get(key).is_some(), "{key} in {report}");
        }
        assert!(report["fields"].to_string().contains("Field"));
        let field = &schemas["Field"]["properties"];
        for key in ["value", "confidence", "box", "edited"] {
            assert!(field.get(key).is_some(), "{key} in {field}");
        }
        assert_eq!(
            schemas["Verdict"]["enum"],
            serde_json::json!(["pass", "review", "fail"])
        );
        let verified = schemas["Verified"].to_string();
        assert!(
            verified.contains("job_id") && verified.contains("Report"),
            "{verified}"
        );
    }
}
