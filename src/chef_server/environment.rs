//! `larder apply ENVIRONMENT --server`: set an environment's
//! `cookbook_versions` on a Chef Server to the locked versions, as
//! `berks apply` does. The environment is created only when asked.

use serde_json::{Map, Value, json};

use super::{ChefServerError, Server};
use crate::http;

/// Sets the pins of `name` to `pins` (`{"cookbook": "= 1.2.3"}`); returns
/// whether the environment was created.
pub fn apply(
    server: &Server,
    name: &str,
    pins: &Map<String, Value>,
    create: bool,
) -> Result<bool, ChefServerError> {
    let target = format!("environments/{name}");
    let answer = server.send("GET", &target, b"", &[])?;
    let url = http::redact(&server.absolute(&target));
    match answer.status {
        404 if create => {
            let environment = json!({
                "name": name,
                "description": "",
                "json_class": "Chef::Environment",
                "chef_type": "environment",
                "cookbook_versions": pins,
                "default_attributes": {},
                "override_attributes": {},
            });
            server.json(
                "POST",
                "environments",
                &environment,
                "the server has no environments endpoint; check the server URL",
            )?;
            Ok(true)
        }
        404 => Err(ChefServerError::EnvironmentNotFound {
            name: name.to_string(),
            url: http::redact(server.url()),
        }),
        200..=299 => {
            let mut environment: Value =
                serde_json::from_slice(&answer.body).map_err(|e| ChefServerError::BadAnswer {
                    url: url.clone(),
                    reason: format!("the environment is not JSON ({e})"),
                })?;
            let Value::Object(fields) = &mut environment else {
                return Err(ChefServerError::BadAnswer {
                    url,
                    reason: "the environment is not a JSON object".into(),
                });
            };
            fields.insert("cookbook_versions".into(), Value::Object(pins.clone()));
            server.json(
                "PUT",
                &target,
                &environment,
                "the environment disappeared while it was updated; run again",
            )?;
            Ok(false)
        }
        status => Err(server.failed("GET", &url, status, &answer)),
    }
}
